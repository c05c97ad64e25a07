package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// chart draws, per table, one bar per method but baseline A: the median
// of its per-round ratios to baseline A, a whisker over the middle half of
// the rounds (first to third quartile), and the 1.0× line. Baseline B's bar is the noise floor.
func chart(path string, tables []*table) error {
	const (
		width     = 1000
		labelW    = 400
		barH      = 14
		gap       = 4
		headerH   = 24
		groupGap  = 14
		maxRatio  = 4.0
		plotWidth = width - labelW - 90
	)
	height := 40
	for _, t := range tables {
		height += headerH + (len(t.rows)-1)*(barH+gap) + groupGap
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text := func(x, y int, s string, c color.Color) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	fill := func(r image.Rectangle, c color.Color) {
		draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
	}
	black := color.Black
	grey := color.RGBA{0xbb, 0xbb, 0xbb, 0xff}
	ours := color.RGBA{0x2e, 0x7d, 0x32, 0xff}
	hand := color.RGBA{0xc6, 0x28, 0x28, 0xff}
	base := color.RGBA{0x55, 0x55, 0x55, 0xff}

	text(10, 20, fmt.Sprintf("ratio to baseline A (pgx stdlib), paired per round: median bar, quartile whisker; capped at %.0fx", maxRatio), black)
	y := 40
	x0 := labelW
	scale := float64(plotWidth) / maxRatio
	px := func(ratio float64) int { return x0 + int(min(ratio, maxRatio)*scale) }
	for _, t := range tables {
		what := "median latency, lower is better"
		if t.stat == throughput {
			what = "throughput, higher is better"
		}
		text(10, y+16, t.title+" ("+what+")", black)
		y += headerH
		top := y
		for _, r := range t.rows[1:] {
			col := hand
			switch {
			case strings.HasPrefix(r.method, "pgx-tenant"):
				col = ours
			case strings.HasPrefix(r.method, "baseline") || strings.HasPrefix(r.method, "pgx stdlib"):
				col = base
			}
			name := r.method
			if len(name) > 56 {
				name = name[:53] + "..."
			}
			text(10, y+11, name, black)
			fill(image.Rect(x0, y, px(r.vsA.med), y+barH), col)
			fill(image.Rect(px(r.vsA.q1), y+barH/2, px(r.vsA.q3)+1, y+barH/2+1), black)
			text(max(px(r.vsA.med), px(r.vsA.q3))+6, y+11, fmt.Sprintf("%.2fx", r.vsA.med), black)
			y += barH + gap
		}
		one := px(1)
		fill(image.Rect(one, top-2, one+1, y), grey)
		y += groupGap
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
