"""What several SQL backends share, written once; private.

The table layout and the DDL and SQLAlchemy tables made from it, quoting, the bookmark
statements, the fill of the bucket keys an upgraded store lacks, what SQLite's errors
mean, and the PostgreSQL pieces both PostgreSQL backends use: positions, LISTEN, the
advisory lease and asyncpg's lost-connection errors.
"""
