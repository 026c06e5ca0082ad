// Package plots renders an analysis to PNG and SVG with gonum/plot:
// latency versus load with the fit, knee, saturation and SLO; achieved
// versus offered throughput; the run's timeline; each step's latency
// spectrum; failures by class over time. It draws what analysis computed
// and computes nothing of its own.
package plots
