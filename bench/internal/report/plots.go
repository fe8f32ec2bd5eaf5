//go:build linux

package report

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plots are the files Plot writes, without extension; each is written as
// PNG and SVG.
var Plots = []struct{ Name, Title string }{
	{"ladder", "Switch ladder"},
	{"cpu_per_request", "Server CPU per request against sessions, at equal load"},
	{"memory_per_conn", "Memory per session against sessions"},
	{"latency", "Open-loop latency"},
	{"irc_fanout", "IRC fan-out: server CPU per delivered line"},
}

// series is one set of points with error ranges, one per label.
type series struct {
	name         string
	vals, lo, hi []float64 // NaN: no value for that label
}

type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// pointChart draws series as points with min–max bars over nominal x labels.
func pointChart(title, ylabel string, labels []string, ss []series, logY bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = math.Pi / 5
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = ticks125{}
	}
	// Room for the outermost points and their bars.
	p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	width := 0.6
	for si, s := range ss {
		var pts errPoints
		for i, v := range s.vals {
			if math.IsNaN(v) || (logY && v <= 0) {
				continue
			}
			x := float64(i)
			if len(ss) > 1 {
				x += width * (float64(si)/float64(len(ss)-1) - 0.5)
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: x, Y: v})
			lo, hi := v, v
			if s.lo != nil {
				lo, hi = s.lo[i], s.hi[i]
			}
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{v - lo, hi - v})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts.XYs)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color = plotutil.Color(si)
		sc.GlyphStyle.Shape = plotutil.Shape(si)
		sc.GlyphStyle.Radius = vg.Points(3.5)
		eb, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, err
		}
		eb.LineStyle.Color = plotutil.Color(si)
		p.Add(sc, eb)
		if s.name != "" {
			p.Legend.Add(s.name, sc)
		}
	}
	if logY && p.Y.Min > 0 {
		// Room above and below the extreme points and their bars.
		p.Y.Min /= 1.5
		p.Y.Max *= 1.5
	}
	return p, nil
}

// ticks125 labels a log axis at 1, 2 and 5 times each power of ten, so
// that a range narrower than a decade still has labels.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
		for m := 3.0; m < 10; m++ {
			if v := m * math.Pow(10, e); v >= lo && v <= hi && m != 5 {
				ts = append(ts, plot.Tick{Value: v}) // unlabelled minor tick
			}
		}
	}
	return ts
}

func save(p *plot.Plot, dir, name string, w vg.Length) error {
	var errs []error
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(w, 5*vg.Inch, filepath.Join(dir, name+ext)); err != nil {
			errs = append(errs, fmt.Errorf("plot %s%s: %w", name, ext, err))
		}
	}
	return errors.Join(errs...)
}

// Plot writes every plot of the run to dir.
func Plot(r *Run, dir string) error {
	var errs []error
	if p, err := ladderPlot(r); err != nil {
		errs = append(errs, err)
	} else if p != nil {
		errs = append(errs, save(p, dir, "ladder", 9*vg.Inch))
	}
	for _, f := range []struct {
		name string
		make func(*Run) (*legendPlot, error)
	}{{"cpu_per_request", cpuPlot}, {"memory_per_conn", memoryPlot}} {
		p, err := f.make(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p != nil {
			errs = append(errs, p.save(dir, f.name, 9*vg.Inch, 5*vg.Inch))
		}
	}
	for _, f := range []struct {
		name string
		make func(*Run) (*plot.Plot, error)
	}{{"latency", latencyPlot}, {"irc_fanout", ircPlot}} {
		p, err := f.make(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p != nil {
			errs = append(errs, save(p, dir, f.name, 8*vg.Inch))
		}
	}
	return errors.Join(errs...)
}

func ladderPlot(r *Run) (*plot.Plot, error) {
	var labels []string
	s := series{}
	for _, l := range r.Ladder {
		if l.Skipped != "" || l.Error != "" {
			continue
		}
		labels = append(labels, l.Name)
		s.vals = append(s.vals, l.NS.Median)
		s.lo = append(s.lo, l.NS.Min)
		s.hi = append(s.hi, l.NS.Max)
	}
	if len(labels) == 0 {
		return nil, nil
	}
	p, err := pointChart("Switch ladder: ns per switch (median, min–max; log scale)", "ns per switch", labels, []series{s}, true)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// measured returns the models with numbers, in report order.
func measured(r *Run) []string {
	var out []string
	for _, m := range r.Models {
		if m.Skipped == "" && m.Error == "" {
			out = append(out, m.Model)
		}
	}
	return out
}

// sweepLine is one model's points across the sweep's counts.
type sweepLine struct {
	name         string
	x, y, lo, hi []float64
}

// legendPlot is a plot whose legend is drawn beside it rather than over its
// data: ten models' lines leave no corner free.
type legendPlot struct {
	*plot.Plot
	legend plot.Legend
}

// sweepChart draws lines over the session counts, both axes logarithmic,
// with min–max bars. Each line's points are nudged sideways a little so
// that the bars of models with close values stay apart.
func sweepChart(title, ylabel string, lines []sweepLine) (*legendPlot, error) {
	p := plot.New()
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	p.Title.Text = title
	p.X.Label.Text = "sessions (connections), log scale"
	p.Y.Label.Text = ylabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = ticks125{}, ticks125{}
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, l := range lines {
		var pts errPoints
		nudge := math.Pow(1.04, float64(i)-float64(len(lines)-1)/2)
		for j := range l.x {
			if l.y[j] <= 0 || math.IsNaN(l.y[j]) {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: l.x[j] * nudge, Y: l.y[j]})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{l.y[j] - l.lo[j], l.hi[j] - l.y[j]})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		line, sc, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		sc.Radius = vg.Points(3)
		eb, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, err
		}
		eb.LineStyle.Color = plotutil.Color(i)
		p.Add(line, sc, eb)
		leg.Add(l.name, line, sc)
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	// Room around the outermost points and their bars.
	p.X.Min, p.X.Max = p.X.Min/1.5, p.X.Max*1.5
	p.Y.Min, p.Y.Max = p.Y.Min/1.5, p.Y.Max*1.5
	return &legendPlot{p, leg}, nil
}

// save writes the plot with its legend in a column on the right.
func (lp *legendPlot) save(dir, name string, w, h vg.Length) error {
	var errs []error
	for _, ext := range []string{"png", "svg"} {
		path := filepath.Join(dir, name+"."+ext)
		c, err := draw.NewFormattedCanvas(w, h, ext)
		if err != nil {
			errs = append(errs, fmt.Errorf("plot %s: %w", path, err))
			continue
		}
		dc := draw.New(c)
		lw := lp.legend.Rectangle(dc).Size().X + vg.Points(12)
		lp.Draw(draw.Crop(dc, 0, -lw, 0, 0))
		lp.legend.Draw(draw.Crop(dc, w-lw+vg.Points(6), 0, 0, -vg.Points(30)))
		f, err := os.Create(path)
		if err == nil {
			_, err = c.WriteTo(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("plot %s: %w", path, err))
		}
	}
	return errors.Join(errs...)
}

// cpuPlot is server CPU per request at equal load against sessions.
func cpuPlot(r *Run) (*legendPlot, error) {
	var lines []sweepLine
	for i := range r.Models {
		m := &r.Models[i]
		l := sweepLine{name: m.Model}
		for _, c := range r.Plan.Conns {
			if e := equalAt(m, c); measuredLoad(e) {
				l.x, l.y = append(l.x, float64(c)), append(l.y, e.CPUPerOp.Median)
				l.lo, l.hi = append(l.lo, e.CPUPerOp.Min), append(l.hi, e.CPUPerOp.Max)
			}
		}
		lines = append(lines, l)
	}
	return sweepChart("Server CPU per request at equal load, 64-byte echo (median, min–max)", "server CPU µs per request", lines)
}

// memoryPlot is memory per session against sessions.
func memoryPlot(r *Run) (*legendPlot, error) {
	var lines []sweepLine
	for i := range r.Models {
		m := &r.Models[i]
		l := sweepLine{name: m.Model}
		for _, mm := range m.Memory {
			if mm.Limit == "" && mm.Error == "" && mm.PerConn > 0 {
				v := float64(mm.PerConn) / 1024
				l.x, l.y, l.lo, l.hi = append(l.x, float64(mm.Conns)), append(l.y, v), append(l.lo, v), append(l.hi, v)
			}
		}
		lines = append(lines, l)
	}
	return sweepChart("Memory per session after one exchange each (anonymous PSS)", "KiB per session", lines)
}

func latencyPlot(r *Run) (*plot.Plot, error) {
	names := measured(r)
	if len(names) == 0 {
		return nil, nil
	}
	rate := 0.0
	ss := []series{{name: "p50"}, {name: "p99"}, {name: "p99.9"}}
	for _, name := range names {
		vals := [3]float64{math.NaN(), math.NaN(), math.NaN()}
		for i := range r.Models {
			m := &r.Models[i]
			if e := equalAt(m, r.Plan.OpenConns); m.Model == name && e != nil && e.Latency != nil && e.Latency.Count > 0 {
				l := e.Latency
				vals = [3]float64{float64(l.P50) / 1e3, float64(l.P99) / 1e3, float64(l.P999) / 1e3}
				rate = e.OfferedRate
			}
		}
		for i := range ss {
			ss[i].vals = append(ss[i].vals, vals[i])
		}
	}
	if rate == 0 {
		return nil, nil
	}
	return pointChart(fmt.Sprintf("Open-loop latency at equal load, %.0f req/s, %d conns (log scale)", rate, r.Plan.OpenConns), "µs from scheduled send", names, ss, true)
}
