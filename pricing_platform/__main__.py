from pricing_platform.cli import app

app(prog_name="pricing-platform")
