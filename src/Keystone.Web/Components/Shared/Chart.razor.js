// The one place apexcharts is touched: Chart.razor renders, updates and destroys through these.
// window.ApexCharts comes from lib/apexcharts/apexcharts.min.js (apexcharts 4.7.0, MIT), loaded by App.razor.

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
    // At most about ten x labels, level: sixty "MMM d" labels at -45 degrees overlapped. The tooltip still names every point.
    const step = Math.max(1, Math.ceil(o.categories.length / 10));
    options.xaxis = {
      categories: o.categories.map((c, i) => (i % step === 0 ? c : "")),
      labels: { rotate: 0, hideOverlappingLabels: true },
      tooltip: { enabled: false },
    };
    options.tooltip.x = { formatter: (v, opts) => (opts && opts.dataPointIndex >= 0 ? o.categories[opts.dataPointIndex] : v) };
    options.yaxis = yAxes(o, format);
    if (o.type === "area") {
      options.fill = { type: "solid", opacity: o.stacked ? 0.6 : 0.25 };
    }
  }
  return options;
}

// The y scale each chart gets: from zero when every value is non-negative (an axis starting near the data turns noise
// into swings), the caller's bounds when given (0..100 % for a margin), and a series of a different size (cost beside
// revenue, 1,000 times smaller) on its own right-hand axis instead of a flat line at zero.
function yAxes(o, format) {
  const all = o.series.flatMap(s => s.data.map(Number));
  const min = o.yMin !== null && o.yMin !== undefined ? Number(o.yMin) : all.every(v => v >= 0) ? 0 : undefined;
  const max = o.yMax !== null && o.yMax !== undefined ? Number(o.yMax) : undefined;
  const own = o.ownAxisSeries;
  if (!own || !o.series.some(s => s.name === own) || o.series.length < 2) {
    return { min, max, forceNiceScale: true, labels: { formatter: format } };
  }
  const shared = o.series.find(s => s.name !== own).name;
  const ownData = o.series.find(s => s.name === own).data.map(Number);
  let firstShared = true;
  return o.series.map(s => {
    if (s.name === own) {
      return { seriesName: own, opposite: true, min: ownData.every(v => v >= 0) ? 0 : undefined, forceNiceScale: true,
        title: { text: own + " (right axis)" }, labels: { formatter: format } };
    }
    const axis = { seriesName: shared, show: firstShared, min, max, forceNiceScale: true, labels: { formatter: format } };
    firstShared = false;
    return axis;
  });
}

// What every chart module shares: one ApexCharts instance per element, drawn from the module's own build(json),
// updated in place and destroyed with its component. The eval trend chart imports it with its own build.
export function chartLifecycle(build) {
  const charts = new WeakMap();

  function render(element, json) {
    if (!window.ApexCharts || !element) {
      return;
    }
    destroy(element);
    const chart = new window.ApexCharts(element, build(json));
    charts.set(element, chart);
    chart.render();
  }

  function update(element, json) {
    const chart = charts.get(element);
    if (!chart) {
      render(element, json);
      return;
    }
    chart.updateOptions(build(json), true, false);
  }

  function destroy(element) {
    const chart = element && charts.get(element);
    if (chart) {
      chart.destroy();
      charts.delete(element);
    }
  }

  return { render, update, destroy };
}

export const { render, update, destroy } = chartLifecycle(build);
