# The production image: web, worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a change to the server's code does not reinstall them. The one
# package the project installs (the `releasedeck` command line) has to be there for it.
COPY pyproject.toml ./
COPY releasedeck_cli ./releasedeck_cli
RUN pip install .

COPY . .

# Production settings insist on these; collectstatic touches neither database nor broker.
RUN SECRET_KEY=collectstatic-only \
    DATABASE_URL=sqlite:////tmp/unused.sqlite3 \
    REDIS_URL=redis://unused:6379/0 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    python manage.py collectstatic --noinput

RUN useradd --create-home --uid 10001 releasedeck \
    && mkdir -p /app/var \
    && chown releasedeck /app/var
USER releasedeck

ENV DJANGO_SETTINGS_MODULE=config.settings.production
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
