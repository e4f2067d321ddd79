# One image for the API and the worker (docker-compose.yml picks the command).
FROM python:3.11-slim

# The source tree (with alembic.ini and migrations/) is what runs, not a copy in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH=/srv/sentiment
WORKDIR /srv/sentiment

COPY pyproject.toml README.md ./
COPY app ./app
COPY worker ./worker
COPY client ./client
RUN pip install --no-cache-dir .

COPY alembic.ini ./
COPY migrations ./migrations

# The API: SENTIMENT_API_PROCESSES processes on port 8000 (app/server.py).
ENV SENTIMENT_HOST=0.0.0.0 SENTIMENT_PORT=8000
EXPOSE 8000
CMD ["python", "-m", "app.server"]
