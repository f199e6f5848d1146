FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY pyproject.toml README.md ./
COPY statuspage statuspage
COPY components components
COPY incidents incidents
COPY subscribers subscribers
COPY templates templates
COPY static static
COPY manage.py ./
RUN pip install --no-cache-dir -e . \
 && SECRET_KEY=build-only-collectstatic-key-not-used-at-run-time-0123456789 python manage.py collectstatic --noinput \
 && useradd --system --uid 1000 --home /app app && mkdir -p /data && chown app /data
USER app
EXPOSE 8000
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "4", "statuspage.wsgi:application"]
