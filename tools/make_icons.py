"""Draws the app icons into pwa/icons/ (run once; the PNGs are committed).

A dark square with a camera-lens ring and a pin: readable at 48 px, with the motif inside
the maskable safe zone (the central 80%).
"""

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "pwa" / "icons"
BG, FG, ACCENT = (11, 13, 16), (232, 234, 237), (79, 163, 255)


def draw(size: int, motif_scale: float) -> Image.Image:
    image = Image.new("RGB", (size, size), BG)
    d = ImageDraw.Draw(image)
    c, r = size / 2, size / 2 * motif_scale
    width = max(2, int(size * 0.06))
    d.ellipse([c - r, c - r, c + r, c + r], outline=FG, width=width)
    inner = r * 0.45
    d.ellipse([c - inner, c - inner, c + inner, c + inner], fill=ACCENT)
    dot = r * 0.15
    d.ellipse([c + r * 0.45 - dot, c - r * 0.62 - dot, c + r * 0.45 + dot, c - r * 0.62 + dot],
              fill=FG)
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    draw(192, 0.7).save(OUT / "icon-192.png", optimize=True)
    draw(512, 0.7).save(OUT / "icon-512.png", optimize=True)
    draw(512, 0.5).save(OUT / "icon-maskable-512.png", optimize=True)  # safe zone: r < 40%
    draw(180, 0.7).save(OUT / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
