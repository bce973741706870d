// The one place apexcharts is touched: Chart.razor renders, updates and destroys through these.
// window.ApexCharts comes from lib/apexcharts/apexcharts.min.js (apexcharts 4.7.0, MIT), loaded by App.razor.
const charts = new WeakMap();

// Display formatting only: amounts arrive in dollars, already converted from micro-USD by Money.Dollars.
const formatters = {
  usd: v => (v < 0 ? "-$" : "$") + Math.abs(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: Math.abs(v) < 1 && v !== 0 ? 4 : 2 }),
  percent: v => (v * 100).toFixed(1) + " %",
  milliseconds: v => Math.round(v).toLocaleString("en-US") + " ms",
  count: v => Math.round(v).toLocaleString("en-US"),
};

function build(json) {
  const o = JSON.parse(json);
  const format = formatters[o.unit] || formatters.count;
  const donut = o.type === "donut";
  const options = {
    chart: {
      type: o.type,
      height: o.height,
      stacked: o.stacked,
      sparkline: { enabled: o.sparkline },
      animations: { enabled: false },
      toolbar: { show: false },
      fontFamily: "inherit",
    },
    dataLabels: { enabled: false },
    stroke: { width: o.type === "bar" ? 0 : 2, curve: "smooth" },
    legend: { show: !o.sparkline, position: "bottom" },
    tooltip: { enabled: !o.sparkline, y: { formatter: format } },
    noData: { text: "No data for this range" },
  };
  if (donut) {
    options.series = (o.series[0] && o.series[0].data || []).map(Number);
    options.labels = o.categories;
  } else {
    options.series = o.series.map(s => ({ name: s.name, data: s.data.map(Number) }));
    options.xaxis = { categories: o.categories, labels: { rotate: -45, hideOverlappingLabels: true } };
    options.yaxis = { labels: { formatter: format } };
    if (o.type === "area") {
      options.fill = { type: "solid", opacity: o.stacked ? 0.6 : 0.25 };
    }
  }
  return options;
}

export function render(element, json) {
  if (!window.ApexCharts || !element) {
    return;
  }
  destroy(element);
  const chart = new window.ApexCharts(element, build(json));
  charts.set(element, chart);
  chart.render();
}

export function update(element, json) {
  const chart = charts.get(element);
  if (!chart) {
    render(element, json);
    return;
  }
  chart.updateOptions(build(json), true, false);
}

export function destroy(element) {
  const chart = element && charts.get(element);
  if (chart) {
    chart.destroy();
    charts.delete(element);
  }
}
