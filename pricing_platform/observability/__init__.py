"""Prometheus metrics of the batch jobs (pushed to a Pushgateway), the local Prometheus configuration, the
Grafana dashboards as code, and the PromQL name checks that keep dashboards and alerts honest."""
