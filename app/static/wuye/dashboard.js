/* Dashboard charts: Apache ECharts from the app's own static files, data embedded in the page. */
(function () {
  "use strict";
  var source = document.getElementById("dashboard-charts");
  if (!source || typeof echarts === "undefined") { return; }
  var charts = JSON.parse(source.textContent || "[]");
  var palette = ["#337ab7", "#d9534f", "#5cb85c", "#f0ad4e", "#5bc0de", "#8e6bbf", "#e07b39", "#7f8c8d", "#2c7873", "#c0392b"];
  var font = { fontFamily: "'Noto Sans CJK SC','Microsoft YaHei',sans-serif", fontSize: 12 };
  var instances = [];

  function axisOptions(c) {
    var stacked = c.kind === "stack";
    var series = (c.series || []).map(function (s) {
      var item = { name: s.name, type: c.kind === "line" ? "line" : "bar", data: s.data, emphasis: { focus: "series" } };
      if (stacked) { item.stack = "total"; }
      if (c.kind === "line") { item.smooth = false; item.symbolSize = 6; item.connectNulls = true; }
      if (c.kind === "bar") { item.barMaxWidth = 28; item.label = { show: true, position: "right" }; }
      return item;
    });
    var horizontal = c.kind === "bar";
    var valueAxis = { type: "value", minInterval: c.kind === "line" ? 0 : 1, axisLabel: { formatter: "{value}" + (c.unit === "%" ? "%" : "") } };
    if (c.max !== undefined) { valueAxis.max = c.max; }
    if (c.min !== undefined) { valueAxis.min = c.min; }
    var categoryAxis = { type: "category", data: c.x, axisLabel: { interval: 0, hideOverlap: true } };
    return {
      color: palette,
      textStyle: font,
      tooltip: { trigger: "axis", axisPointer: { type: horizontal ? "shadow" : "line" },
                 valueFormatter: function (v) { return v === null || v === undefined ? "—" : v + (c.unit ? " " + c.unit : ""); } },
      legend: { type: "scroll", top: 0, textStyle: font },
      grid: { left: horizontal ? 96 : 44, right: 24, top: 36, bottom: 28, containLabel: false },
      xAxis: horizontal ? valueAxis : categoryAxis,
      yAxis: horizontal ? categoryAxis : valueAxis,
      series: series
    };
  }

  function pieOptions(c) {
    var data = (c.series && c.series[0] ? c.series[0].data : []).map(function (v, i) { return { name: c.x[i], value: v }; });
    return {
      color: palette,
      textStyle: font,
      tooltip: { trigger: "item", formatter: "{b}:{c} " + (c.unit || "") + "({d}%)" },
      legend: { type: "scroll", orient: "vertical", right: 8, top: 8, bottom: 8, textStyle: font },
      series: [{ type: "pie", radius: ["38%", "70%"], center: ["38%", "52%"], data: data,
                 label: { formatter: "{b}\n{c}", fontSize: 12 }, avoidLabelOverlap: true }]
    };
  }

  function isEmpty(c) {
    return !(c.series || []).some(function (s) {
      return (s.data || []).some(function (v) { return v !== null && v !== undefined && v !== 0; });
    });
  }

  charts.forEach(function (c) {
    var el = document.getElementById("chart-" + c.name);
    if (!el) { return; }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    var options = c.kind === "pie" ? pieOptions(c) : axisOptions(c);
    if (isEmpty(c)) {
      options.graphic = { type: "text", left: "center", top: "middle", style: { text: el.getAttribute("data-empty"), fontSize: 14, fill: "#999" } };
    }
    chart.setOption(options);
    el.setAttribute("data-rendered", "1");
    instances.push(chart);
  });
  window.addEventListener("resize", function () { instances.forEach(function (ch) { ch.resize(); }); });

  // A dashboard left open on the duty room's screen reads fresh figures every ten minutes
  // (not while someone is using the page: any click or key press postpones it).
  var REFRESH_MS = 10 * 60 * 1000;
  var timer = null;
  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(function () { if (!document.hidden) { window.location.reload(); } else { schedule(); } }, REFRESH_MS);
  }
  ["click", "keydown", "scroll"].forEach(function (ev) { window.addEventListener(ev, schedule, { passive: true }); });
  schedule();
})();
