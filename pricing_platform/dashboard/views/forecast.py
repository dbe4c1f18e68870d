"""Demand forecasting: hourly purchases per category with moving averages, the hour × weekday pattern and
the next 6 hours' forecast."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pricing_platform.dashboard import ui

ui.header(
    "Demand forecast",
    "Hourly purchases per category, 1 h / 3 h moving averages, and a 6-hour forecast (EWM with trend).",
)

hourly = ui.load("demand_hourly")
if ui.has_rows(hourly, "Hourly demand", "It counts complete UTC hours only. " + ui.ANALYTICS_HINT):
    category = st.selectbox("Category", sorted(hourly["category"].unique()), key="forecast_category")
    rows = hourly[hourly["category"] == category]
    long = rows.melt(
        id_vars="hour", value_vars=["purchases", "ma_1h", "ma_3h"], var_name="series", value_name="value"
    )
    forecast = ui.load("demand_forecast")
    if forecast is not None and not forecast.empty:
        ahead = forecast[forecast["category"] == category].rename(
            columns={"forecast_hour": "hour", "forecast_purchases": "value"}
        )
        ahead = ahead.assign(series="forecast")[["hour", "series", "value"]]
        long = pd.concat([long, ahead], ignore_index=True)
    st.plotly_chart(
        px.line(long, x="hour", y="value", color="series", title=f"{category}: purchases per hour"),
        width="stretch",
    )

heatmap = ui.load("demand_heatmap")
if ui.has_rows(heatmap, "Hour × weekday pattern", ui.ANALYTICS_HINT):
    grid = heatmap.pivot_table(index="day_of_week", columns="hour_of_day", values="purchases", fill_value=0)
    grid.index = [["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][d - 1] for d in grid.index]
    st.plotly_chart(
        px.imshow(
            grid,
            aspect="auto",
            labels={"x": "hour of day (UTC)", "y": "", "color": "purchases"},
            title="Purchases by hour and weekday",
        ),
        width="stretch",
    )

forecast = ui.load("demand_forecast")
if ui.has_rows(forecast, "6-hour forecast", ui.ANALYTICS_HINT):
    st.subheader("Next 6 hours")
    st.dataframe(
        forecast.pivot_table(index="category", columns="horizon_h", values="forecast_purchases").round(2),
        width="stretch",
    )
