// Package chartjs holds capfinder's interactive charts for the browser:
// one script, embedded in the binary, that the live dashboard serves and
// every report.html inlines. Charts draw on a canvas, show values on
// hover, zoom on a drag, switch series from the legend and take a log
// axis where values span decades; nothing is loaded from a network.
package chartjs

import _ "embed"

// Script is the charts' JavaScript: class Chart(box, opts).
//
//go:embed chart.js
var Script string
