package report

import (
	"errors"
	"fmt"
	"math"
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
	{"cpu_per_request", "Server CPU per request"},
	{"latency", "Open-loop latency"},
	{"memory_per_conn", "Memory per idle connection"},
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
		make func(*Run) (*plot.Plot, error)
	}{{"cpu_per_request", cpuPlot}, {"latency", latencyPlot}, {"memory_per_conn", memoryPlot}, {"irc_fanout", ircPlot}} {
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

func cpuPlot(r *Run) (*plot.Plot, error) {
	names := measured(r)
	if len(names) == 0 {
		return nil, nil
	}
	var ss []series
	for _, c := range r.Plan.Conns {
		s := series{name: fmt.Sprintf("%d conns", c)}
		for _, name := range names {
			v, lo, hi := math.NaN(), math.NaN(), math.NaN()
			for _, m := range r.Models {
				if m.Model != name {
					continue
				}
				for _, l := range m.Closed {
					if l.Conns == c && l.CPUPerOp.N > 0 {
						v, lo, hi = l.CPUPerOp.Median, l.CPUPerOp.Min, l.CPUPerOp.Max
					}
				}
			}
			s.vals, s.lo, s.hi = append(s.vals, v), append(s.lo, lo), append(s.hi, hi)
		}
		ss = append(ss, s)
	}
	return pointChart("Server CPU per request, closed loop, 64-byte echo (median, min–max; log scale)", "server CPU µs per request", names, ss, true)
}

func latencyPlot(r *Run) (*plot.Plot, error) {
	names := measured(r)
	if len(names) == 0 {
		return nil, nil
	}
	ss := []series{{name: "p50"}, {name: "p99"}, {name: "p99.9"}}
	for _, name := range names {
		vals := [3]float64{math.NaN(), math.NaN(), math.NaN()}
		for _, m := range r.Models {
			if m.Model == name && m.Open != nil && m.Open.Latency != nil {
				l := m.Open.Latency
				vals = [3]float64{float64(l.P50) / 1e3, float64(l.P99) / 1e3, float64(l.P999) / 1e3}
			}
		}
		for i := range ss {
			ss[i].vals = append(ss[i].vals, vals[i])
		}
	}
	return pointChart(fmt.Sprintf("Open-loop latency at %.0f req/s, %d conns (log scale)", r.Plan.OpenRate, r.Plan.OpenConns), "µs from scheduled send", names, ss, true)
}

func memoryPlot(r *Run) (*plot.Plot, error) {
	var names []string
	s := series{name: "anon PSS"}
	for _, m := range r.Models {
		if m.Memory == nil || m.Memory.Error != "" || m.Memory.PerConn <= 0 {
			continue
		}
		names = append(names, fmt.Sprintf("%s (%d)", m.Model, m.Memory.Conns))
		s.vals = append(s.vals, float64(m.Memory.PerConn)/1024)
	}
	if len(names) == 0 {
		return nil, nil
	}
	p, err := pointChart("Memory per idle connection (log scale)", "KiB per connection (anon PSS)", names, []series{s}, true)
	if err != nil {
		return nil, err
	}
	p.Legend = plot.NewLegend()
	return p, nil
}
