//! Test images, generated in memory.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

fn pattern(w: u32, h: u32, channels: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h) as usize * channels);
    for y in 0..h {
        for x in 0..w {
            let px = [(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8, 255];
            v.extend_from_slice(&px[..channels]);
        }
    }
    v
}

/// A JPEG of `w`×`h`.
pub fn jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(
            &pattern(w.into(), h.into(), 3),
            w,
            h,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

/// A flat grey JPEG of `w`×`h` (tiny on disk whatever its size in pixels).
pub fn flat_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 50)
        .encode(
            &vec![128u8; usize::from(w) * usize::from(h)],
            w,
            h,
            jpeg_encoder::ColorType::Luma,
        )
        .unwrap();
    out
}

/// A PNG of `w`×`h`.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&pattern(w, h, 3)).unwrap();
    }
    out
}

/// A lossless WebP of `w`×`h`.
pub fn webp(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(&pattern(w, h, 3), w, h, image_webp::ColorType::Rgb8)
        .unwrap();
    out
}

/// A tiny GIF (valid header).
pub fn gif() -> Vec<u8> {
    let mut v = b"GIF89a".to_vec();
    v.extend_from_slice(&[0x80, 0x02, 0xe0, 0x01, 0, 0, 0]);
    v.extend_from_slice(&[0u8; 64]);
    v
}

/// base64 of bytes.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A valid 640×480 JPEG selfie, base64.
pub fn selfie() -> String {
    b64(&jpeg(640, 480))
}
