// The eval trend chart: a prompt's score per version on a time axis, 0-100 so a drop is drawn at its real size, with
// the activations as dashed vertical lines and drift alerts as red points. Its own module rather than the shared
// Chart.razor.js: that one draws one value per category, while runs fall at irregular times and each version has its
// own points (gaps between them are real, not zeros). window.ApexCharts comes from lib/apexcharts (4.7.0, MIT).
import { chartLifecycle } from "../../Components/Shared/Chart.razor.js";

function build(json) {
  const o = JSON.parse(json);
  const fmt = v => (v === null || v === undefined ? "" : Number(v).toFixed(1));
  return {
    chart: { type: "line", height: o.height, animations: { enabled: false }, toolbar: { show: false }, zoom: { enabled: false }, fontFamily: "inherit" },
    series: o.series.map(s => ({ name: s.name, data: s.points.map(p => ({ x: p.x, y: p.y })) })),
    stroke: { width: 2, curve: "straight" },
    markers: { size: 4 },
    dataLabels: { enabled: false },
    legend: { show: true, position: "bottom" },
    noData: { text: "No finished runs in this range" },
    xaxis: { type: "datetime", labels: { datetimeUTC: true }, tooltip: { enabled: false } },
    yaxis: { min: 0, max: 100, tickAmount: 5, labels: { formatter: fmt }, title: { text: "score (points)" } },
    tooltip: { x: { format: "yyyy-MM-dd HH:mm 'UTC'" }, y: { formatter: fmt } },
    annotations: {
      xaxis: o.activations.map(a => ({
        x: a.x,
        strokeDashArray: 4,
        borderColor: "#5c6bc0",
        label: { text: a.label, orientation: "horizontal", style: { background: "#3949ab", color: "#ffffff" } },
      })),
      points: o.drifts.map(d => ({
        x: d.x,
        y: d.y,
        marker: { size: 7, fillColor: "#c62828", strokeColor: "#ffffff" },
        label: { text: d.label, style: { background: "#c62828", color: "#ffffff" } },
      })),
    },
  };
}

export const { render, update, destroy } = chartLifecycle(build);
