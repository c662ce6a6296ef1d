//! Selfie image checks (contract §5): `imageBase64` is decoded and checked for real.
//!
//! The checks run in a fixed order and the first failure wins:
//!
//! 0. an optional `data:<media-type>;base64,` prefix is stripped when its media type is PNG,
//!    JPEG or WebP; any other media type is [`ImageProblem::UnsupportedFormat`];
//! 1. the text must be standard base64 (padding optional, ASCII whitespace ignored) and not
//!    empty, else [`ImageProblem::InvalidBase64`];
//! 2. the decoded bytes must not exceed [`MAX_IMAGE_BYTES`], else [`ImageProblem::TooLarge`];
//! 3. the signature must be PNG, JPEG or WebP; the signature of another image format is
//!    [`ImageProblem::UnsupportedFormat`], no known signature is [`ImageProblem::Undecodable`];
//! 4. the size its header declares must be within [`MAX_PIXELS`] and [`MAX_SIDE`], else
//!    [`ImageProblem::TooManyPixels`]; then the image must decode completely, else
//!    [`ImageProblem::Undecodable`];
//! 5. the shorter side must be at least [`MIN_SHORT_SIDE`] and the longer side at least
//!    [`MIN_LONG_SIDE`] pixels (portrait and landscape both pass), else
//!    [`ImageProblem::TooSmall`].

use std::io::Cursor;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// The largest accepted image, in decoded bytes (800 KiB).
pub const MAX_IMAGE_BYTES: usize = 819_200;
/// The minimum length, in pixels, of the image's longer side.
pub const MIN_LONG_SIDE: u32 = 640;
/// The minimum length, in pixels, of the image's shorter side.
pub const MIN_SHORT_SIDE: u32 = 480;

/// Images wider or taller than this are refused as undecodable, to bound decoding memory.
pub const MAX_SIDE: u32 = 8_192;
/// Images with more pixels than this (16 MP: 4096×4096; a 12 MP phone photo fits) are refused
/// (20900), to bound what one decode allocates: a baseline JPEG is decoded to one byte per
/// pixel (≤ 16 MiB; a progressive one also keeps its coefficients, ≈ 96 MiB at most), a WebP to
/// its RGB(A) output (≤ 64 MiB), a PNG one row at a time.
pub const MAX_PIXELS: u64 = 16 * 1024 * 1024;

/// An accepted selfie image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Portable Network Graphics.
    Png,
    /// JPEG / JFIF.
    Jpeg,
    /// WebP (lossy or lossless).
    Webp,
}

impl ImageFormat {
    /// The IANA media type of the format: `image/png`, `image/jpeg` or `image/webp`.
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
        }
    }
}

/// Why an `imageBase64` value was refused. Each maps to one contract error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImageProblem {
    /// The text is empty or not valid base64 (contract code 20900).
    #[error(
        "image is not valid base64; send the image file's bytes encoded with the standard base64 alphabet (A-Z, a-z, 0-9, '+', '/'), optionally prefixed with data:image/jpeg;base64,"
    )]
    InvalidBase64,
    /// The decoded image is larger than [`MAX_IMAGE_BYTES`] (contract code 20506).
    #[error(
        "image is larger than 800 KiB (819200 bytes) after base64 decoding; compress or downscale the selfie (for example JPEG at quality 85, 1280x960 pixels) and send it again"
    )]
    TooLarge,
    /// The image is in a format other than PNG, JPEG or WebP, or a `data:` prefix names
    /// another media type (contract code 20505).
    #[error(
        "image format is not supported; send the selfie as JPEG, PNG or WebP (a data: prefix, if any, must be data:image/jpeg;base64, data:image/png;base64, or data:image/webp;base64,)"
    )]
    UnsupportedFormat,
    /// The bytes are not a recognisable image, or a PNG/JPEG/WebP that does not fully decode
    /// (contract code 20900).
    #[error(
        "image could not be decoded; send a complete, uncorrupted JPEG, PNG or WebP file (check that the file was not truncated or altered before base64 encoding)"
    )]
    Undecodable,
    /// The image declares more than [`MAX_PIXELS`] pixels or more than [`MAX_SIDE`] a side, so
    /// it is not decoded (contract code 20900: the platform cannot decode it).
    #[error(
        "image is too large to decode: at most 16 megapixels (4096x4096) and 8192 pixels a side; downscale the selfie (1280x960 is plenty) and send it again"
    )]
    TooManyPixels,
    /// The shorter side is under [`MIN_SHORT_SIDE`] or the longer side under [`MIN_LONG_SIDE`]
    /// pixels (contract code 20807).
    #[error(
        "image is smaller than 640x480 pixels; send a selfie whose longer side is at least 640 and shorter side at least 480 pixels"
    )]
    TooSmall,
}

/// An image that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedImage {
    /// The detected format (from the file signature, not the `data:` prefix).
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The decoded file bytes (the encoded image, not its pixels).
    pub bytes: Vec<u8>,
}

/// Decodes and checks an `imageBase64` value, in the order described in the module docs.
///
/// # Errors
///
/// The first [`ImageProblem`] found, in check order.
pub fn check_image_base64(input: &str) -> Result<CheckedImage, ImageProblem> {
    // CONTRACT §5 order: base64 validity, then size, then a foreign format (prefix or signature).
    let (payload, foreign_prefix) = strip_data_prefix(input)?;
    let bytes = decode_base64(payload)?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ImageProblem::TooLarge);
    }
    if foreign_prefix {
        return Err(ImageProblem::UnsupportedFormat);
    }
    let format = sniff(&bytes)?;
    // The declared size first: an image over the bounds is never decoded.
    if let Some((_, width, height)) = header_info(&bytes)
        && !within_bounds(width, height)
        && width > 0
        && height > 0
    {
        return Err(ImageProblem::TooManyPixels);
    }
    let (width, height) = decode_fully(format, &bytes)?;
    let (short, long) = (width.min(height), width.max(height));
    if short < MIN_SHORT_SIDE || long < MIN_LONG_SIDE {
        return Err(ImageProblem::TooSmall);
    }
    Ok(CheckedImage {
        format,
        width,
        height,
        bytes,
    })
}

/// Strips an optional `data:<media-type>[;param]*;base64,` prefix.
///
/// Returns the payload and whether the prefix names a media type other than PNG, JPEG
/// (`image/jpg` too) or WebP (case-insensitive), which the caller reports as
/// `UnsupportedFormat` once the payload is known to be valid base64 within the size limit; a
/// `data:` URL that is not base64-encoded is `InvalidBase64`.
fn strip_data_prefix(input: &str) -> Result<(&str, bool), ImageProblem> {
    let trimmed = input.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let Some(head) = trimmed.get(..5) else {
        return Ok((input, false));
    };
    if !head.eq_ignore_ascii_case("data:") {
        return Ok((input, false));
    }
    let rest = &trimmed[5..];
    // The header ends at the first comma; without one there is no payload at all.
    let header_end = rest.find(',');
    let header = &rest[..header_end.unwrap_or(rest.len())];
    let mut parts = header.split(';');
    let media_type = parts.next().unwrap_or("").trim();
    let accepted = ["image/png", "image/jpeg", "image/jpg", "image/webp"]
        .iter()
        .any(|t| media_type.eq_ignore_ascii_case(t));
    let is_base64 = header
        .rsplit(';')
        .next()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("base64"))
        && header.contains(';');
    match header_end {
        Some(end) if is_base64 => Ok((&rest[end + 1..], !accepted)),
        _ => Err(ImageProblem::InvalidBase64),
    }
}

/// Decodes standard base64, padding optional, ignoring ASCII whitespace.
fn decode_base64(text: &str) -> Result<Vec<u8>, ImageProblem> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    // The common case has no whitespace: decode in place, and copy without the whitespace
    // only when that fails (line-wrapped base64).
    if let Ok(bytes) = ENGINE.decode(text)
        && !bytes.is_empty()
    {
        return Ok(bytes);
    }
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(ImageProblem::InvalidBase64);
    }
    ENGINE
        .decode(&compact)
        .map_err(|_| ImageProblem::InvalidBase64)
}

/// Identifies the format from the file signature.
fn sniff(b: &[u8]) -> Result<ImageFormat, ImageProblem> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageFormat::Png);
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormat::Jpeg);
    }
    if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        return Ok(ImageFormat::Webp);
    }
    if is_other_image_format(b) {
        return Err(ImageProblem::UnsupportedFormat);
    }
    Err(ImageProblem::Undecodable)
}

/// Whether `b` starts with the signature of a known image format other than PNG/JPEG/WebP.
fn is_other_image_format(b: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"GIF87a",
        b"GIF89a",
        b"BM",                       // BMP
        b"II*\0",                    // TIFF, little-endian
        b"MM\0*",                    // TIFF, big-endian
        b"II+\0",                    // BigTIFF
        b"MM\0+",                    // BigTIFF
        &[0, 0, 1, 0],               // ICO
        &[0, 0, 2, 0],               // CUR
        &[0xFF, 0x4F, 0xFF, 0x51],   // JPEG 2000 codestream
        b"\0\0\0\x0cJXL \r\n\x87\n", // JPEG XL container
        &[0xFF, 0x0A],               // JPEG XL codestream
        b"%PDF",                     // PDF
        b"8BPS",                     // Photoshop
        b"qoif",                     // QOI
        &[0x76, 0x2F, 0x31, 0x01],   // OpenEXR
        b"<svg",                     // SVG
        b"\x8aMNG\r\n\x1a\n",        // MNG
        b"\0\0\0\x0cjP  ",           // JPEG 2000 (JP2)
    ];
    const FTYP_BRANDS: &[&[u8; 4]] = &[
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
    ];
    if PREFIXES.iter().any(|p| b.starts_with(p)) {
        return true;
    }
    // HEIF family (HEIC, AVIF): an ISO-BMFF `ftyp` box with an image brand.
    b.len() >= 12 && &b[4..8] == b"ftyp" && FTYP_BRANDS.iter().any(|brand| b[8..12] == brand[..])
}

/// The format and dimensions of an image file, read from its header alone (no pixel is
/// decoded): for describing a stored selfie that was checked when it arrived.
pub fn header_info(bytes: &[u8]) -> Option<(ImageFormat, u32, u32)> {
    let format = sniff(bytes).ok()?;
    let (width, height) = match format {
        ImageFormat::Png => {
            let reader = png::Decoder::new(Cursor::new(bytes)).read_info().ok()?;
            (reader.info().width, reader.info().height)
        }
        ImageFormat::Jpeg => {
            let mut decoder = zune_jpeg::JpegDecoder::new(bytes);
            decoder.decode_headers().ok()?;
            let info = decoder.info()?;
            (u32::from(info.width), u32::from(info.height))
        }
        ImageFormat::Webp => image_webp::WebPDecoder::new(Cursor::new(bytes))
            .ok()?
            .dimensions(),
    };
    Some((format, width, height))
}

/// Whether `width × height` is within the decoding bounds.
fn within_bounds(width: u32, height: u32) -> bool {
    width > 0
        && height > 0
        && width <= MAX_SIDE
        && height <= MAX_SIDE
        && u64::from(width) * u64::from(height) <= MAX_PIXELS
}

/// Decodes the whole image and returns its dimensions, or `Undecodable`.
fn decode_fully(format: ImageFormat, bytes: &[u8]) -> Result<(u32, u32), ImageProblem> {
    // The decoders are written to return errors on bad input; a panic on some unforeseen input
    // is still treated as "undecodable" rather than taking the request down.
    let result = std::panic::catch_unwind(|| match format {
        ImageFormat::Png => decode_png(bytes),
        ImageFormat::Jpeg => decode_jpeg(bytes, ColorSpace::Luma).map(|(w, h, _)| (w, h)),
        ImageFormat::Webp => decode_webp(bytes).map(|(w, h, _, _)| (w, h)),
    });
    result.ok().flatten().ok_or(ImageProblem::Undecodable)
}

/// The pixels of an image, 8-bit RGB, rows top to bottom.
#[derive(Clone)]
pub struct RgbPixels {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 3` bytes.
    pub data: Vec<u8>,
}

/// Decodes an image that passed [`check_image_base64`] to RGB, with the same decoders, bounds
/// and strictness as the check (`None` for what the check would call undecodable). A JPEG is
/// turned upright by its EXIF orientation, as a phone's photo is shown.
pub fn decode_rgb(format: ImageFormat, bytes: &[u8]) -> Option<RgbPixels> {
    let decoded = std::panic::catch_unwind(|| match format {
        ImageFormat::Png => png_rgb(bytes),
        ImageFormat::Jpeg => {
            decode_jpeg(bytes, ColorSpace::RGB).map(|(w, h, data)| match jpeg_orientation(bytes) {
                Some(orientation) if orientation != 1 => upright(w, h, &data, orientation),
                _ => (w, h, data),
            })
        }
        ImageFormat::Webp => decode_webp(bytes).map(|(width, height, buf, alpha)| {
            let data = if alpha {
                buf.chunks_exact(4)
                    .flat_map(|p| [p[0], p[1], p[2]])
                    .collect()
            } else {
                buf
            };
            (width, height, data)
        }),
    });
    let (width, height, data) = decoded.ok().flatten()?;
    (data.len() as u64 == u64::from(width) * u64::from(height) * 3).then_some(RgbPixels {
        width,
        height,
        data,
    })
}

/// The EXIF orientation (2–8 turn or mirror the stored pixels; 1 is upright) of a JPEG,
/// `None` without EXIF or with a malformed one.
fn jpeg_orientation(bytes: &[u8]) -> Option<u16> {
    let mut decoder = zune_jpeg::JpegDecoder::new(bytes);
    decoder.decode_headers().ok()?;
    exif_orientation(decoder.exif()?)
}

/// The orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block.
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(0..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |i: usize| {
        let b: [u8; 2] = tiff.get(i..i + 2)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |i: usize| {
        let b: [u8; 4] = tiff.get(i..i + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries.min(512))
        .map(|k| ifd + 2 + k * 12)
        .find(|&entry| u16_at(entry) == Some(0x0112))
        .and_then(|entry| u16_at(entry + 8))
        .filter(|o| (1..=8).contains(o))
}

/// RGB pixels `w × h` turned upright for an EXIF `orientation` (2–8): the new dimensions and
/// pixels.
fn upright(w: u32, h: u32, data: &[u8], orientation: u16) -> (u32, u32, Vec<u8>) {
    let (w, h) = (w as usize, h as usize);
    let swaps = orientation >= 5;
    let (out_w, out_h) = if swaps { (h, w) } else { (w, h) };
    let mut out = Vec::with_capacity(data.len());
    for y in 0..out_h {
        for x in 0..out_w {
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                8 => (w - 1 - y, x),
                _ => (x, y),
            };
            let i = (sy * w + sx) * 3;
            out.extend_from_slice(&data[i..i + 3]);
        }
    }
    (out_w as u32, out_h as u32, out)
}

/// Decodes every row of a PNG (one row buffer at a time) up to `IEND`.
fn decode_png(bytes: &[u8]) -> Option<(u32, u32)> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().ok()?;
    let (width, height) = {
        let info = reader.info();
        (info.width, info.height)
    };
    if !within_bounds(width, height) {
        return None;
    }
    while reader.next_row().ok()?.is_some() {}
    reader.finish().ok()?;
    Some((width, height))
}

/// A PNG's first frame as RGB (palette and 16-bit samples expanded, alpha dropped).
fn png_rgb(bytes: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().ok()?;
    if !within_bounds(reader.info().width, reader.info().height) {
        return None;
    }
    let mut buf = vec![0; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut buf).ok()?;
    buf.truncate(frame.buffer_size());
    let data = match frame.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        png::ColorType::Indexed => return None,
    };
    Some((frame.width, frame.height, data))
}

/// Decodes a JPEG in strict mode to `colorspace` (the check asks for luma: every scan is still
/// decoded in full, only the output is one byte per pixel), so that truncated or corrupt scans
/// are errors.
fn decode_jpeg(bytes: &[u8], colorspace: ColorSpace) -> Option<(u32, u32, Vec<u8>)> {
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize)
        .jpeg_set_out_colorspace(colorspace);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    decoder.decode_headers().ok()?;
    let info = decoder.info()?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if !within_bounds(width, height) {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    // zune-jpeg pads a truncated scan with zeros instead of failing, so also require the
    // marker structure to be complete up to EOI.
    jpeg_reaches_eoi(bytes).then_some((width, height, pixels))
}

/// Walks the JPEG marker segments (skipping entropy-coded data after each SOS) and tells
/// whether an EOI marker is reached inside `b`. Segment contents (e.g. an EXIF thumbnail with
/// its own EOI) are skipped by their declared length.
fn jpeg_reaches_eoi(b: &[u8]) -> bool {
    let mut i = 2; // after SOI
    loop {
        // Find the next marker prefix, tolerating stray bytes and 0xFF fill bytes.
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = b.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers (TEM, RSTn) and a stray 0xFF00 carry no length.
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return false;
        };
        if len < 2 || i + len > b.len() {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data runs until a marker other than a stuffed 0xFF00 or RSTn.
            loop {
                match (b.get(i), b.get(i + 1)) {
                    (None, _) | (Some(0xFF), None) => return false,
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                    (Some(0xFF), Some(0xFF)) => i += 1,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => i += 1,
                }
            }
        }
    }
}

/// Decodes a WebP image (the first frame of an animation): width, height, pixels, and whether
/// they are RGBA (else RGB).
fn decode_webp(bytes: &[u8]) -> Option<(u32, u32, Vec<u8>, bool)> {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).ok()?;
    let (width, height) = decoder.dimensions();
    if !within_bounds(width, height) {
        return None;
    }
    let size = decoder.output_buffer_size()?;
    decoder.set_memory_limit(size.saturating_mul(2).max(16 << 20));
    let mut buf = vec![0u8; size];
    decoder.read_image(&mut buf).ok()?;
    Some((width, height, buf, decoder.has_alpha()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

    /// A phone's photo: the stored pixels are sideways and EXIF says how to turn them.
    #[test]
    fn a_jpeg_is_turned_upright_by_its_exif_orientation() {
        // 64×32: the left half red, the right half blue.
        let (w, h) = (64u16, 32u16);
        let pixels: Vec<u8> = (0..h)
            .flat_map(|_| (0..w).flat_map(|x| if x < 32 { [220, 20, 20] } else { [20, 20, 220] }))
            .collect();
        let jpeg = |orientation: Option<u8>| {
            let mut out = Vec::new();
            let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
            if let Some(o) = orientation {
                let mut exif = b"Exif\0\0II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
                exif.extend([o, 0, 0, 0, 0, 0, 0, 0]);
                enc.add_app_segment(1, exif).unwrap();
            }
            enc.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            out
        };
        let at = |img: &RgbPixels, x: u32, y: u32| {
            let i = ((y * img.width + x) * 3) as usize;
            [img.data[i], img.data[i + 1], img.data[i + 2]]
        };
        let red = |p: [u8; 3]| p[0] > 150 && p[2] < 100;
        let plain = decode_rgb(ImageFormat::Jpeg, &jpeg(None)).unwrap();
        assert_eq!((plain.width, plain.height), (64, 32));
        assert!(red(at(&plain, 8, 16)) && !red(at(&plain, 56, 16)));
        // 6: turned a quarter clockwise to be shown: the left half comes out on top.
        let turned = decode_rgb(ImageFormat::Jpeg, &jpeg(Some(6))).unwrap();
        assert_eq!((turned.width, turned.height), (32, 64));
        assert!(red(at(&turned, 16, 8)) && !red(at(&turned, 16, 56)));
        // 8: a quarter anticlockwise: the left half comes out at the bottom.
        let turned = decode_rgb(ImageFormat::Jpeg, &jpeg(Some(8))).unwrap();
        assert!(!red(at(&turned, 16, 8)) && red(at(&turned, 16, 56)));
        // 2: mirrored.
        let mirrored = decode_rgb(ImageFormat::Jpeg, &jpeg(Some(2))).unwrap();
        assert!(!red(at(&mirrored, 8, 16)) && red(at(&mirrored, 56, 16)));
        // Every orientation, on a 3×2 pattern: the upright result is the same for each stored
        // form (what a camera writes for each, turned back).
        let px = |v: u8| [v, v, v];
        let upright_3x2: Vec<u8> = [1, 2, 3, 4, 5, 6].iter().flat_map(|v| px(*v)).collect();
        let stored: [(u16, u32, u32, [u8; 6]); 8] = [
            (1, 3, 2, [1, 2, 3, 4, 5, 6]),
            (2, 3, 2, [3, 2, 1, 6, 5, 4]),
            (3, 3, 2, [6, 5, 4, 3, 2, 1]),
            (4, 3, 2, [4, 5, 6, 1, 2, 3]),
            (5, 2, 3, [1, 4, 2, 5, 3, 6]),
            (6, 2, 3, [3, 6, 2, 5, 1, 4]),
            (7, 2, 3, [6, 3, 5, 2, 4, 1]),
            (8, 2, 3, [4, 1, 5, 2, 6, 3]),
        ];
        for (orientation, w, h, values) in stored {
            let data: Vec<u8> = values.iter().flat_map(|v| px(*v)).collect();
            let (uw, uh, up) = if orientation == 1 {
                (w, h, data)
            } else {
                upright(w, h, &data, orientation)
            };
            assert_eq!(
                (uw, uh, &up),
                (3, 2, &upright_3x2),
                "orientation {orientation}"
            );
        }
        // A malformed or out-of-range tag leaves the pixels as stored.
        assert_eq!(exif_orientation(b"II\x2a\0\xff\xff\0\0"), None);
        let odd = decode_rgb(ImageFormat::Jpeg, &jpeg(Some(9))).unwrap();
        assert_eq!((odd.width, odd.height), (64, 32));
    }

    /// A deterministic RGB pattern with enough variety to not compress to nothing.
    fn pattern_rgb(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                out.push((x % 256) as u8);
                out.push((y % 256) as u8);
                out.push(((x * 7 + y * 13) % 256) as u8);
            }
        }
        out
    }

    fn png_bytes(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, width, height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&pattern_rgb(width, height)).unwrap();
        }
        out
    }

    fn jpeg_bytes(width: u16, height: u16, progressive: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 85);
        enc.set_progressive(progressive);
        enc.encode(
            &pattern_rgb(u32::from(width), u32::from(height)),
            width,
            height,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
        out
    }

    fn webp_bytes(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image_webp::WebPEncoder::new(&mut out)
            .encode(
                &pattern_rgb(width, height),
                width,
                height,
                image_webp::ColorType::Rgb8,
            )
            .unwrap();
        out
    }

    /// Like `unwrap_err`, without dumping the image bytes when the result is `Ok`.
    trait ExpectProblem {
        fn problem(self) -> ImageProblem;
    }

    impl ExpectProblem for Result<CheckedImage, ImageProblem> {
        fn problem(self) -> ImageProblem {
            match self {
                Ok(img) => panic!(
                    "expected a problem, got an accepted {:?} {}x{} ({} bytes)",
                    img.format,
                    img.width,
                    img.height,
                    img.bytes.len()
                ),
                Err(p) => p,
            }
        }
    }

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    fn check(bytes: &[u8]) -> Result<CheckedImage, ImageProblem> {
        check_image_base64(&b64(bytes))
    }

    // ---- accepted images and size boundaries ----

    #[test]
    fn png_boundaries() {
        for (w, h) in [(640, 480), (480, 640), (1024, 768)] {
            let bytes = png_bytes(w, h);
            let img = check(&bytes).unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
            assert_eq!(img.format, ImageFormat::Png);
            assert_eq!((img.width, img.height), (w, h));
            assert_eq!(img.bytes, bytes);
        }
        for (w, h) in [
            (639, 480),
            (640, 479),
            (480, 639),
            (479, 640),
            (1, 1),
            (2000, 400),
        ] {
            assert_eq!(
                check(&png_bytes(w, h)).problem(),
                ImageProblem::TooSmall,
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn jpeg_boundaries() {
        for (w, h) in [(640, 480), (480, 640)] {
            for progressive in [false, true] {
                let bytes = jpeg_bytes(w, h, progressive);
                let img = check(&bytes).unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
                assert_eq!(img.format, ImageFormat::Jpeg);
                assert_eq!((img.width, img.height), (u32::from(w), u32::from(h)));
                assert_eq!(img.bytes, bytes);
            }
        }
        for (w, h) in [(639, 480), (640, 479), (320, 240)] {
            assert_eq!(
                check(&jpeg_bytes(w, h, false)).problem(),
                ImageProblem::TooSmall,
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn webp_boundaries() {
        for (w, h) in [(640, 480), (480, 640)] {
            let bytes = webp_bytes(w, h);
            let img = check(&bytes).unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
            assert_eq!(img.format, ImageFormat::Webp);
            assert_eq!((img.width, img.height), (w, h));
            assert_eq!(img.bytes, bytes);
        }
        for (w, h) in [(639, 480), (640, 479)] {
            assert_eq!(
                check(&webp_bytes(w, h)).problem(),
                ImageProblem::TooSmall,
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn media_types() {
        assert_eq!(ImageFormat::Png.media_type(), "image/png");
        assert_eq!(ImageFormat::Jpeg.media_type(), "image/jpeg");
        assert_eq!(ImageFormat::Webp.media_type(), "image/webp");
    }

    // ---- rule 0: data: prefix ----

    #[test]
    fn accepted_data_prefixes_are_stripped() {
        let jpeg = b64(&jpeg_bytes(640, 480, false));
        let png = b64(&png_bytes(640, 480));
        let webp = b64(&webp_bytes(640, 480));
        let cases = [
            (format!("data:image/jpeg;base64,{jpeg}"), ImageFormat::Jpeg),
            (format!("data:image/jpg;base64,{jpeg}"), ImageFormat::Jpeg),
            (format!("DATA:IMAGE/JPEG;BASE64,{jpeg}"), ImageFormat::Jpeg),
            (format!("data:image/png;base64,{png}"), ImageFormat::Png),
            (format!("data:image/webp;base64,{webp}"), ImageFormat::Webp),
            (
                format!("data:image/png;name=me.png;base64,{png}"),
                ImageFormat::Png,
            ),
            (
                format!("  \ndata:image/png;base64,{png}\n"),
                ImageFormat::Png,
            ),
        ];
        for (input, format) in cases {
            assert_eq!(check_image_base64(&input).unwrap().format, format);
        }
    }

    #[test]
    fn prefix_media_type_is_not_trusted_for_format() {
        // The signature decides the format; a mismatched (accepted) prefix is harmless.
        let png = b64(&png_bytes(640, 480));
        let img = check_image_base64(&format!("data:image/jpeg;base64,{png}")).unwrap();
        assert_eq!(img.format, ImageFormat::Png);
    }

    #[test]
    fn other_data_prefixes_are_unsupported_once_the_payload_is_valid() {
        let jpeg = b64(&jpeg_bytes(640, 480, false));
        for prefix in [
            "data:image/gif;base64,",
            "data:text/plain;base64,",
            "data:image/bmp;base64,",
            "data:application/pdf;base64,",
            "data:;base64,",
            "data:image/svg+xml;base64,",
        ] {
            assert_eq!(
                check_image_base64(&format!("{prefix}{jpeg}")).problem(),
                ImageProblem::UnsupportedFormat,
                "{prefix}"
            );
            // CONTRACT §5 order: invalid base64 (20900) is reported before the prefix.
            assert_eq!(
                check_image_base64(&format!("{prefix}!!!not base64!!!")).problem(),
                ImageProblem::InvalidBase64,
                "{prefix}"
            );
        }
    }

    #[test]
    fn malformed_data_urls_are_invalid_base64() {
        let png = b64(&png_bytes(640, 480));
        for input in [
            format!("data:image/png,{png}"),
            format!("data:image/png;charset=x,{png}"),
            format!("data:image/png;base64{png}"),
            "data:image/png;base64,".to_owned(),
            "data:image/png;base64,\n".to_owned(),
        ] {
            assert_eq!(
                check_image_base64(&input).problem(),
                ImageProblem::InvalidBase64,
                "{input}"
            );
        }
    }

    #[test]
    fn bare_data_scheme_is_not_base64() {
        // `data:` without `;base64` carries no base64 payload at all.
        assert_eq!(
            check_image_base64("data:").problem(),
            ImageProblem::InvalidBase64
        );
        assert_eq!(
            check_image_base64("data:,abcd").problem(),
            ImageProblem::InvalidBase64
        );
    }

    // ---- rule 1: base64 ----

    #[test]
    fn invalid_or_empty_base64() {
        for input in [
            "", "   \n\t ", "!!!!", "abc$", "A", "AAAAA", "-_-_", "AA==AA",
        ] {
            assert_eq!(
                check_image_base64(input).problem(),
                ImageProblem::InvalidBase64,
                "{input:?}"
            );
        }
        // URL-safe alphabet is not the standard one.
        let url_safe =
            base64::engine::general_purpose::URL_SAFE.encode([0xFB, 0xFF, 0xBF, 0xFE, 0xFF]);
        assert!(url_safe.contains('-') || url_safe.contains('_'));
        assert_eq!(
            check_image_base64(&url_safe).problem(),
            ImageProblem::InvalidBase64
        );
    }

    #[test]
    fn padding_is_optional() {
        // Pick a size whose base64 needs padding.
        let mut bytes = png_bytes(640, 480);
        while bytes.len().is_multiple_of(3) {
            bytes.push(0);
        }
        let padded = STANDARD.encode(&bytes);
        let unpadded = STANDARD_NO_PAD.encode(&bytes);
        assert!(padded.ends_with('='));
        assert_eq!(check_image_base64(&padded).unwrap().bytes, bytes);
        assert_eq!(check_image_base64(&unpadded).unwrap().bytes, bytes);
    }

    #[test]
    fn line_wrapped_base64_is_accepted() {
        let bytes = jpeg_bytes(640, 480, false);
        let text = b64(&bytes);
        for (width, eol) in [(76, "\n"), (64, "\r\n"), (60, " \t\n")] {
            let wrapped: String = text
                .as_bytes()
                .chunks(width)
                .map(|c| format!("{}{eol}", std::str::from_utf8(c).unwrap()))
                .collect();
            let img = check_image_base64(&wrapped).unwrap();
            assert_eq!(img.bytes, bytes);
        }
    }

    // ---- rule 2: size ----

    #[test]
    fn size_limit_is_checked_before_decoding() {
        // Random-ish bytes behind a PNG signature: too large wins over undecodable.
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend(
            (0..MAX_IMAGE_BYTES as u32 - 7).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8),
        );
        assert_eq!(bytes.len(), MAX_IMAGE_BYTES + 1);
        assert_eq!(check(&bytes).problem(), ImageProblem::TooLarge);
        // A valid PNG padded to just over the limit.
        let mut png = png_bytes(640, 480);
        png.resize(MAX_IMAGE_BYTES + 1, 0);
        assert_eq!(check(&png).problem(), ImageProblem::TooLarge);
        // A GIF over the limit is also too large (size comes before format).
        let mut gif = b"GIF89a".to_vec();
        gif.resize(MAX_IMAGE_BYTES + 1, 0);
        assert_eq!(check(&gif).problem(), ImageProblem::TooLarge);
    }

    #[test]
    fn exactly_the_limit_is_not_too_large() {
        // A valid PNG padded with trailing bytes to exactly the limit is accepted: the PNG
        // decoder stops at IEND.
        let mut png = png_bytes(640, 480);
        assert!(png.len() < MAX_IMAGE_BYTES);
        png.resize(MAX_IMAGE_BYTES, 0);
        let img = check(&png).unwrap();
        assert_eq!(img.bytes.len(), MAX_IMAGE_BYTES);
        // Unknown bytes at exactly the limit get past the size check.
        assert_eq!(
            check(&vec![0x42; MAX_IMAGE_BYTES]).problem(),
            ImageProblem::Undecodable
        );
    }

    // ---- rule 3: signatures ----

    #[test]
    fn other_image_formats_are_unsupported() {
        let mut heic = vec![0, 0, 0, 0x18];
        heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        let mut avif = vec![0, 0, 0, 0x1c];
        avif.extend_from_slice(b"ftypavif\0\0\0\0avifmif1miaf");
        let mut heix = vec![0, 0, 0, 0x18];
        heix.extend_from_slice(b"ftypheix\0\0\0\0");
        let mut mif1 = vec![0, 0, 0, 0x18];
        mif1.extend_from_slice(b"ftypmif1\0\0\0\0");
        let samples: Vec<(&str, Vec<u8>)> = vec![
            ("gif87a", b"GIF87a\x80\x02\xe0\x01\0\0\0".to_vec()),
            ("gif89a", b"GIF89a\x80\x02\xe0\x01\0\0\0".to_vec()),
            ("bmp", b"BM\x36\x10\x0e\0\0\0\0\0\x36\0\0\0\x28\0".to_vec()),
            ("tiff le", b"II*\0\x08\0\0\0".to_vec()),
            ("tiff be", b"MM\0*\0\0\0\x08".to_vec()),
            ("ico", vec![0, 0, 1, 0, 1, 0, 0x20, 0x20]),
            ("heic", heic),
            ("heix", heix),
            ("mif1", mif1),
            ("avif", avif),
            (
                "jp2",
                b"\0\0\0\x0cjP  \r\n\x87\n\0\0\0\x14ftypjp2 ".to_vec(),
            ),
            ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec()),
        ];
        for (name, bytes) in samples {
            assert_eq!(
                check(&bytes).problem(),
                ImageProblem::UnsupportedFormat,
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_signatures_are_undecodable() {
        let mut mp4 = vec![0, 0, 0, 0x18];
        mp4.extend_from_slice(b"ftypisom\0\0\0\0");
        let samples: Vec<(&str, Vec<u8>)> = vec![
            ("text", b"hello world, this is not an image".to_vec()),
            ("zeros", vec![0; 64]),
            ("one byte", vec![0x89]),
            ("png prefix only", b"\x89PNG".to_vec()),
            ("jpeg soi only", vec![0xFF, 0xD8]),
            ("riff wave", b"RIFF\x24\0\0\0WAVEfmt ".to_vec()),
            ("mp4", mp4),
        ];
        for (name, bytes) in samples {
            assert_eq!(check(&bytes).problem(), ImageProblem::Undecodable, "{name}");
        }
    }

    // ---- rule 4: full decode ----

    #[test]
    fn truncated_images_are_undecodable() {
        for (name, bytes) in [
            ("png", png_bytes(640, 480)),
            ("jpeg", jpeg_bytes(640, 480, false)),
            ("progressive jpeg", jpeg_bytes(640, 480, true)),
            ("webp", webp_bytes(640, 480)),
        ] {
            let half = &bytes[..bytes.len() / 2];
            assert_eq!(
                check(half).problem(),
                ImageProblem::Undecodable,
                "{name} truncated in half"
            );
            // Just the header/signature.
            assert_eq!(
                check(&bytes[..16]).problem(),
                ImageProblem::Undecodable,
                "{name} header only"
            );
        }
        // A PNG missing only its IEND chunk.
        let png = png_bytes(640, 480);
        assert_eq!(
            check(&png[..png.len() - 12]).problem(),
            ImageProblem::Undecodable
        );
    }

    #[test]
    fn jpeg_structure_must_reach_eoi() {
        let jpeg = jpeg_bytes(640, 480, false);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
        // Missing only the EOI marker, or cut a little before the end.
        assert_eq!(
            check(&jpeg[..jpeg.len() - 2]).problem(),
            ImageProblem::Undecodable
        );
        assert_eq!(
            check(&jpeg[..jpeg.len() - 100]).problem(),
            ImageProblem::Undecodable
        );
        // Trailing bytes after EOI are tolerated (some cameras append data).
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"\0\0trailer");
        assert_eq!(check(&trailing).unwrap().format, ImageFormat::Jpeg);
    }

    #[test]
    fn jpeg_with_restart_markers_and_embedded_eoi() {
        // An APP1 segment that contains an EOI (like an EXIF thumbnail) must not count as the
        // end of the image; restart markers inside the scan are fine.
        let mut thumb = b"Exif\0\0".to_vec();
        thumb.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xD9]);
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 85);
        enc.set_restart_interval(4);
        enc.add_app_segment(1, thumb).unwrap();
        enc.encode(
            &pattern_rgb(640, 480),
            640,
            480,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
        assert!(
            out.windows(2)
                .any(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
        );
        let img = check(&out).unwrap();
        assert_eq!((img.width, img.height), (640, 480));
        assert!(jpeg_reaches_eoi(&out));
        let half = &out[..out.len() / 2];
        assert!(!jpeg_reaches_eoi(half));
        assert_eq!(check(half).problem(), ImageProblem::Undecodable);
    }

    #[test]
    fn undecodable_wins_over_too_small() {
        let small = png_bytes(100, 100);
        assert_eq!(check(&small).problem(), ImageProblem::TooSmall);
        assert_eq!(
            check(&small[..small.len() / 2]).problem(),
            ImageProblem::Undecodable
        );
        let small = jpeg_bytes(100, 100, false);
        assert_eq!(check(&small).problem(), ImageProblem::TooSmall);
        assert_eq!(
            check(&small[..small.len() / 2]).problem(),
            ImageProblem::Undecodable
        );
    }

    #[test]
    fn corrupt_images_are_undecodable() {
        // PNG with a corrupted IDAT payload (CRC mismatch).
        let mut png = png_bytes(640, 480);
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        for b in &mut png[idat + 10..idat + 60] {
            *b ^= 0x5A;
        }
        assert_eq!(check(&png).problem(), ImageProblem::Undecodable);
        // WebP with a garbled bitstream.
        let mut webp = webp_bytes(640, 480);
        let n = webp.len();
        for b in &mut webp[30..n] {
            *b = 0xFF;
        }
        assert_eq!(check(&webp).problem(), ImageProblem::Undecodable);
        // A JPEG signature followed by garbage.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.extend(std::iter::repeat_n(0x11, 200));
        assert_eq!(check(&jpeg).problem(), ImageProblem::Undecodable);
    }

    #[test]
    fn oversized_dimensions_are_undecodable() {
        // A PNG header claiming 20000x20000 (fits in bytes, refused before decoding pixels).
        let mut enc_out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut enc_out, 1, 1);
            enc.set_color(png::ColorType::Grayscale);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0]).unwrap();
        }
        // Patch IHDR width/height and fix its CRC.
        let ihdr = 12; // offset of "IHDR"
        enc_out[ihdr + 4..ihdr + 8].copy_from_slice(&20_000u32.to_be_bytes());
        enc_out[ihdr + 8..ihdr + 12].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32(&enc_out[ihdr..ihdr + 17]);
        enc_out[ihdr + 17..ihdr + 21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(check(&enc_out).problem(), ImageProblem::TooManyPixels);
        // The header alone still tells what the file claims (for describing a stored selfie).
        assert_eq!(
            header_info(&enc_out),
            Some((ImageFormat::Png, 20_000, 20_000))
        );
        // 16 MP and 8192 px a side at most (CONTRACT §19: what one decode may allocate).
        assert!(within_bounds(4_096, 4_096));
        assert!(within_bounds(8_192, 2_048));
        assert!(!within_bounds(4_097, 4_096));
        assert!(!within_bounds(8_193, 480));
        assert!(!within_bounds(0, 640));
    }

    #[test]
    fn header_info_reads_dimensions_without_decoding() {
        assert_eq!(
            header_info(&jpeg_bytes(800, 600, false)),
            Some((ImageFormat::Jpeg, 800, 600))
        );
        assert_eq!(
            header_info(&png_bytes(640, 480)),
            Some((ImageFormat::Png, 640, 480))
        );
        assert_eq!(
            header_info(&webp_bytes(640, 480)),
            Some((ImageFormat::Webp, 640, 480))
        );
        assert_eq!(header_info(b"not an image"), None);
    }

    /// CRC-32 (IEEE), for patching PNG chunks in tests.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    // ---- messages ----

    #[test]
    fn messages_explain_the_fix() {
        let msg = |p: ImageProblem| p.to_string();
        assert!(msg(ImageProblem::InvalidBase64).contains("base64"));
        assert!(msg(ImageProblem::TooLarge).contains(&MAX_IMAGE_BYTES.to_string()));
        assert!(msg(ImageProblem::UnsupportedFormat).contains("JPEG, PNG or WebP"));
        assert!(msg(ImageProblem::Undecodable).contains("decoded"));
        let small = msg(ImageProblem::TooSmall);
        assert!(small.contains(&format!("{MIN_LONG_SIDE}x{MIN_SHORT_SIDE}")));
        assert!(small.contains("at least 640"));
        assert!(small.contains("at least 480"));
    }

    #[test]
    fn decode_rgb_gives_the_pixels_of_every_format() {
        let (w, h) = (64u32, 48u32);
        let pattern = pattern_rgb(w, h);
        for (format, bytes) in [
            (ImageFormat::Png, png_bytes(w, h)),
            (ImageFormat::Webp, webp_bytes(w, h)),
        ] {
            let rgb = decode_rgb(format, &bytes).unwrap();
            assert_eq!((rgb.width, rgb.height), (w, h));
            assert_eq!(rgb.data, pattern, "{format:?} is lossless");
        }
        let rgb = decode_rgb(ImageFormat::Jpeg, &jpeg_bytes(64, 48, false)).unwrap();
        assert_eq!(
            (rgb.width, rgb.height, rgb.data.len()),
            (64, 48, 64 * 48 * 3)
        );
        let close = rgb
            .data
            .iter()
            .zip(&pattern)
            .filter(|(a, b)| a.abs_diff(**b) < 40)
            .count();
        assert!(
            close * 10 > pattern.len() * 9,
            "JPEG pixels are near the original"
        );
    }

    #[test]
    fn decode_rgb_refuses_what_the_check_refuses() {
        let jpeg = jpeg_bytes(64, 48, false);
        assert!(decode_rgb(ImageFormat::Jpeg, &jpeg[..jpeg.len() / 2]).is_none());
        let png = png_bytes(64, 48);
        assert!(decode_rgb(ImageFormat::Png, &png[..png.len() - 20]).is_none());
        assert!(decode_rgb(ImageFormat::Webp, b"RIFF\0\0\0\0WEBPVP8 ").is_none());
    }
}
