"""The SQL backends' code, one concept per module; private.

Import the backends from their public modules: `evtsrc.backends.sqlite`,
`evtsrc.backends.sqlalchemy` and `evtsrc.backends.sql_schema`. Only the modules
named `_alchemy_*` and `_tables` need SQLAlchemy.
"""
