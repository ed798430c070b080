"""Alembic migrations of the store's schema; run through ``engine.upgrade``, no ``alembic.ini`` needed."""
