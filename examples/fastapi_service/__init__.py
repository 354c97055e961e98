"""A web service on FastAPI: a library whose members borrow books, as a skeleton to copy.

Run it (it stores events in `library.sqlite` in the current folder)::

    python -m examples.fastapi_service --port 8000
    uvicorn --factory examples.fastapi_service.app:create_app --port 8000 --workers 2
    LIBRARY_DATABASE_URL=postgresql://user@host/db python -m examples.fastapi_service

and try it::

    curl -i -X POST localhost:8000/books/dune -H 'content-type: application/json' \\
        -d '{"title": "Dune", "copies": 1}'
    curl -i -X POST localhost:8000/books/dune/loans -H 'content-type: application/json' \\
        -d '{"member": "ann"}'
    curl -i 'localhost:8000/members/ann/loans?after=2'  # 2: the position the POST gave

The modules, from the inside out:

* `library`: the domain (the `Book` aggregate, its events and commands); no HTTP.
* `handlers`: the read model GET routes answer from (`Catalog`), and `Notices`.
* `settings`: the `LIBRARY_*` environment variables (the store's URL among them).
* `service`: `open_service(settings)`, the store and the handlers as one `async with`.
* `app`: `create_app()`, the FastAPI app: its lifespan enters `open_service`, its
  routes reach the service through dependencies, and its error handlers give each
  evtsrc error its status code.
* `worker`: `python -m examples.fastapi_service.worker` runs the notices in a process
  of their own (with `LIBRARY_NOTICES_IN_WEB=0` for the web processes).

docs/deploying.md explains the choices; tests/test_fastapi_example.py runs it under
uvicorn and talks to it over HTTP.
"""
