# One image for the API and the worker (docker-compose.yml picks the command).
FROM python:3.11-slim

# The source tree (with alembic.ini and migrations/) is what runs, not a copy in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH=/srv/sentiment
WORKDIR /srv/sentiment

# The runtime dependencies, exactly as locked (`make lock`), in a layer of their own
# that a change to the source leaves cached.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY app ./app
COPY worker ./worker
COPY client ./client
RUN pip install --no-cache-dir --no-deps .

COPY alembic.ini ./
COPY migrations ./migrations

# The API: SENTIMENT_API_PROCESSES processes on port 8000 (app/server.py).
ENV SENTIMENT_HOST=0.0.0.0 SENTIMENT_PORT=8000
EXPOSE 8000
CMD ["python", "-m", "app.server"]
