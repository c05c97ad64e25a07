package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// chart draws, per workload and shape, one bar per method: its median
// latency as a ratio to the baseline, with the 1.0× line marked.
func chart(path string, groups []group) error {
	const (
		width     = 1000
		labelW    = 330
		barH      = 14
		gap       = 4
		headerH   = 24
		groupGap  = 14
		maxRatio  = 4.0
		plotWidth = width - labelW - 80
	)
	height := 40
	for _, g := range groups {
		height += headerH + len(g.cells)*(barH+gap) + groupGap
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

	text(10, 20, fmt.Sprintf("median latency relative to pgx stdlib without binding (1.0x line; bars capped at %.0fx)", maxRatio), black)
	y := 40
	x0 := labelW
	scale := float64(plotWidth) / maxRatio
	for _, g := range groups {
		text(10, y+16, g.title, black)
		y += headerH
		top := y
		for _, c := range g.cells {
			col := hand
			switch {
			case c == g.cells[0]:
				col = base
			case len(c.method) > 10 && c.method[:10] == "pgx-tenant":
				col = ours
			}
			text(10, y+11, c.method, black)
			w := int(min(c.medRatio, maxRatio) * scale)
			fill(image.Rect(x0, y, x0+w, y+barH), col)
			text(x0+w+6, y+11, fmt.Sprintf("%.2fx", c.medRatio), black)
			y += barH + gap
		}
		one := x0 + int(scale)
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
