/* Indicator charts: data from the <script type="application/json" id="indicators-charts">
   block, drawn with the vendored Chart.js. Each chart repeats a table printed under it. */
(function () {
  "use strict";
  var source = document.getElementById("indicators-charts");
  if (!source || !window.Chart) return;
  var palette = ["#0b5cad", "#1d7a3a", "#a35a00", "#b3261e", "#6b4fa8", "#5b6676"];
  var number = new Intl.NumberFormat("fr-FR");
  JSON.parse(source.textContent).forEach(function (chart) {
    var canvas = document.getElementById("chart-" + chart.id);
    if (!canvas) return;
    var datasets = chart.datasets.map(function (set, i) {
      var colour = palette[i % palette.length];
      return {
        label: set.label,
        data: set.data,
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: chart.type === "line" ? 2 : 0,
        pointRadius: chart.type === "line" ? 1.5 : undefined,
        tension: 0.2
      };
    });
    new window.Chart(canvas, {
      type: chart.type,
      data: { labels: chart.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        locale: "fr-FR",
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: datasets.length > 1 },
          tooltip: {
            callbacks: {
              label: function (item) { return item.dataset.label + " : " + number.format(item.parsed.y); }
            }
          }
        },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  });
})();
