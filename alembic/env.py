"""Alembic environment: the URL comes from the caller (app.db.migrate) or the settings."""

from alembic import context

from app.db import make_engine
from app.orm import Base

url = context.config.get_main_option("sqlalchemy.url")
if not url:
    from app.settings import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.db_url

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
