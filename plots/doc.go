// Package plots renders analysis results as PNG and SVG figures with
// gonum/plot. It computes nothing of its own: every number it draws comes
// from package analysis.
package plots
