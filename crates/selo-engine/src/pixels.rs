//! Decoded RGB pixels (decoded by `selo_domain::image`, the checks' decoders) and the sampling
//! the pipeline needs.

use selo_domain::image::ImageFormat;

/// An RGB image, 8 bits per channel, rows top to bottom.
#[derive(Debug, Clone)]
pub struct Rgb {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl Rgb {
    /// The pixel at (x, y), clamped to the image.
    fn at(&self, x: isize, y: isize) -> [f32; 3] {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        let i = (y * self.width + x) * 3;
        [
            f32::from(self.data[i]),
            f32::from(self.data[i + 1]),
            f32::from(self.data[i + 2]),
        ]
    }

    /// Bilinear sample at a real-valued position (pixel centres at integer + 0.5), or `fill`
    /// outside the image.
    pub fn sample(&self, x: f32, y: f32, fill: [f32; 3]) -> [f32; 3] {
        let (fx, fy) = (x - 0.5, y - 0.5);
        if fx < -1.0 || fy < -1.0 || fx > self.width as f32 || fy > self.height as f32 {
            return fill;
        }
        let (x0, y0) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - x0, fy - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        bilinear(
            [
                self.at(x0, y0),
                self.at(x0 + 1, y0),
                self.at(x0, y0 + 1),
                self.at(x0 + 1, y0 + 1),
            ],
            ax,
            ay,
        )
    }

    /// Area-averaged value of the box (x0, y0)–(x1, y1) in source pixels: the reference the
    /// detector input's faster row sums are tested against, and the testkit's resampler.
    pub fn area_mean(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> [f32; 3] {
        let xs = (x0.floor().max(0.0) as usize)..(x1.ceil().min(self.width as f32) as usize);
        let ys = (y0.floor().max(0.0) as usize)..(y1.ceil().min(self.height as f32) as usize);
        let mut sum = [0.0f32; 3];
        let mut n = 0.0f32;
        for y in ys {
            for x in xs.clone() {
                let i = (y * self.width + x) * 3;
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += f32::from(self.data[i + c]);
                }
                n += 1.0;
            }
        }
        if n == 0.0 {
            return self.sample((x0 + x1) / 2.0, (y0 + y1) / 2.0, [0.0; 3]);
        }
        sum.map(|s| s / n)
    }
}

/// Bilinear interpolation between four neighbours (top left, top right, bottom left, bottom
/// right) at fractions `ax` across and `ay` down.
pub fn bilinear([p00, p10, p01, p11]: [[f32; 3]; 4], ax: f32, ay: f32) -> [f32; 3] {
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = p00[c] + (p10[c] - p00[c]) * ax;
        let bottom = p01[c] + (p11[c] - p01[c]) * ax;
        out[c] = top + (bottom - top) * ay;
    }
    out
}

/// Why an image could not be decoded to pixels (the image checks already passed, so this is
/// rare: a decoder disagreeing with the checker).
#[derive(Debug, thiserror::Error)]
#[error("the image could not be decoded to pixels")]
pub struct DecodeError;

/// Decodes a checked image to RGB, with the image checks' own decoders and bounds.
///
/// # Errors
///
/// [`DecodeError`] when the decoder refuses the bytes.
pub fn decode_rgb(format: ImageFormat, bytes: &[u8]) -> Result<Rgb, DecodeError> {
    let pixels = selo_domain::image::decode_rgb(format, bytes).ok_or(DecodeError)?;
    Ok(Rgb {
        width: pixels.width as usize,
        height: pixels.height as usize,
        data: pixels.data,
    })
}
