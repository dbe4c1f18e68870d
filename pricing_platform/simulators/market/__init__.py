"""The simulated market: shoppers whose demand answers our prices (`demand`), competitors with their own
strategies (`competitors`), warehouses, and the time-driven world that produces the raw streams (`shop`).
Its parameters are hidden from the platform, which sees only the events; `truth` writes them out for
scoring estimators and strategies."""
