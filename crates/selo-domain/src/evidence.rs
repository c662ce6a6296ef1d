//! The evidence set of a Web & SDK process (`GET /client/v1/process/{id}/evidenceset`,
//! reference §3.4): a one-page PDF 1.4 written by hand, with no IO and no PDF library.
//!
//! The page lists what the reference lists — the person, the document, the contact channel,
//! the executed flow, the process id, the authentication URL, the creation and completion
//! dates, the state and result, the validation type, the identity and liveness results (and
//! the score when enabled), the tenant, when the set was generated and, when known, the client
//! (OS/browser and IP) of the capture — and embeds the selfie when it is a JPEG, with a
//! watermark naming the process.
//!
//! Text uses the standard 14 fonts Helvetica and Helvetica-Bold with `WinAnsiEncoding`:
//! Latin-1 characters and the WinAnsi punctuation (such as `—`, `…`, curly quotes) are kept,
//! every other character becomes `?`. The document number (CPF) is printed in full — the
//! evidence set is the integrator's own document — and is never logged by this module.

use crate::image::ImageFormat;
use crate::web::WebProcessRecord;
use serde_json::Value;

/// The validation type every Web & SDK process performs.
pub const VALIDATION_TYPE: &str = "selfie + identity verification";

/// Page width (A4), in points.
const PAGE_W: f32 = 595.0;
/// Page height (A4), in points.
const PAGE_H: f32 = 842.0;
/// Left and right margin.
const MARGIN: f32 = 50.0;
/// Where the value column starts.
const VALUE_X: f32 = 170.0;
/// Body font size.
const BODY_SIZE: f32 = 9.0;
/// Distance between body baselines.
const LEADING: f32 = 13.0;
/// Longest wrapped line, in characters (it is also limited by the value column's width).
const WRAP_CHARS: usize = 90;
/// Most lines one value may take; longer values end with `…`.
const MAX_VALUE_LINES: usize = 6;
/// The box the selfie is scaled to fit, in points (width, height).
const SELFIE_BOX: (f32, f32) = (200.0, 260.0);
/// Below this height there is no room to embed the selfie.
const MIN_SELFIE_H: f32 = 80.0;
/// Nothing but the footer is drawn under this baseline.
const BOTTOM: f32 = 58.0;

/// Everything the evidence set shows.
#[derive(Clone, Copy)]
pub struct Evidence<'a> {
    /// The stored process.
    pub process: &'a WebProcessRecord,
    /// The `process` object as the API shows it (`state`, `result`, `authenticationInfo`,
    /// `createdAt`, `finishedAt`, …), see [`WebProcessRecord::view`].
    pub view: &'a Value,
    /// The tenant's display name.
    pub tenant_name: &'a str,
    /// The journey URL (`authenticationUrl`).
    pub authentication_url: &'a str,
    /// The selfie: file bytes, format, width and height in pixels.
    pub selfie: Option<(&'a [u8], ImageFormat, u32, u32)>,
    /// When the set was generated (RFC 3339).
    pub generated_at: &'a str,
    /// The client of the capture (OS/browser and IP), when known.
    pub client: Option<&'a str>,
}

/// Renders the evidence set as a PDF 1.4 file of one A4 page.
///
/// A JPEG selfie (grayscale or RGB) is embedded as is (`/DCTDecode`), scaled to fit about
/// 200×260 pt, with a watermark naming the process; other selfies (PNG, WebP, CMYK JPEG) are
/// described instead of embedded.
pub fn evidence_pdf(e: &Evidence<'_>) -> Vec<u8> {
    let id = e.process.id.as_str();
    let mut rows = rows(e);
    let mut content = Content::default();

    // Header.
    content.text(Font::Bold, 18.0, MARGIN, 792.0, "Evidence set");
    content.gray(0.35);
    content.text(
        Font::Regular,
        BODY_SIZE,
        MARGIN,
        777.0,
        "Identity verification evidence — Selo (IDCloud Web & SDK)",
    );
    content.gray(0.0);
    content.raw(&format!(
        "0.7 G 0.75 w {} 768 m {} 768 l S\n",
        num(MARGIN),
        num(PAGE_W - MARGIN)
    ));

    // The selfie: embedded when it is a JPEG the page can show and there is room left.
    let wrapped_height: f32 = rows
        .iter()
        .map(|(_, v)| wrap(v).len() as f32 * LEADING + 2.0)
        .sum();
    let top = 752.0;
    let mut image = None;
    match plan_selfie(e.selfie) {
        Selfie::Embed(jpeg) => {
            let image_top = top - wrapped_height - 6.0;
            let room = image_top - BOTTOM - 14.0;
            if room >= MIN_SELFIE_H {
                image = Some((jpeg, image_top, room.min(SELFIE_BOX.1)));
            } else {
                rows.push((
                    "Selfie",
                    format!(
                        "{}, {}×{} (not embedded: no room left on the page)",
                        ImageFormat::Jpeg.media_type(),
                        jpeg.width,
                        jpeg.height
                    ),
                ));
            }
        }
        Selfie::Note(note) => rows.push(("Selfie", note)),
    }

    // The rows: a bold label, the value wrapped in the value column.
    let mut y = top;
    'rows: for (label, value) in &rows {
        for (i, line) in wrap(value).iter().enumerate() {
            if y < BOTTOM {
                // Only pathological values get here (every row is capped, the page is not).
                content.text(Font::Regular, BODY_SIZE, MARGIN, y, "… (truncated)");
                break 'rows;
            }
            if i == 0 {
                content.text(Font::Bold, BODY_SIZE, MARGIN, y, label);
            }
            content.text(Font::Regular, BODY_SIZE, VALUE_X, y, line);
            y -= LEADING;
        }
        y -= 2.0;
    }

    let image_obj = image.map(|(jpeg, image_top, max_h)| {
        draw_selfie(&mut content, &jpeg, id, image_top, max_h);
        jpeg
    });

    // Footer.
    content.gray(0.4);
    content.text(
        Font::Regular,
        7.5,
        MARGIN,
        36.0,
        &format!(
            "Confidential — contains personal data (LGPD). Generated by Selo at {}.",
            e.generated_at
        ),
    );
    content.gray(0.0);

    write_pdf(e, &content.buf, image_obj.as_ref())
}

/// The label/value rows of the page, in the reference's order.
fn rows(e: &Evidence<'_>) -> Vec<(&'static str, String)> {
    let p = e.process;
    let v = e.view;
    let auth = &v["authenticationInfo"];
    let person = match p.person.friendly_name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => "—".to_string(),
    };
    let mut rows = vec![
        ("Person", person),
        (
            "Document",
            format!("{} {}", p.person.dui_type, p.person.dui_value),
        ),
        ("Contact channel", contact(p)),
        ("Executed flow", p.flow.clone()),
        ("Purpose", p.purpose.clone()),
        ("Process id", p.id.clone()),
    ];
    if let Some(r) = &p.client_reference {
        rows.push(("Client reference", r.clone()));
    }
    rows.extend([
        ("Authentication URL", e.authentication_url.to_string()),
        ("Created at", text(&v["createdAt"])),
        ("Completed at", text(&v["finishedAt"])),
        ("State", text(&v["state"])),
        ("Result", text(&v["result"])),
        ("Validation type", VALIDATION_TYPE.to_string()),
        ("Identity result", text(&auth["authenticationResult"])),
        ("Liveness result", text(&auth["livenessResult"])),
    ]);
    let score = &auth["scoreEngineResult"];
    if score["scoreEnabled"] == "SCORE_ENABLED_TRUE" {
        rows.push(("Score", text(&score["score"])));
    }
    match auth["identityFraudstersResult"].as_str() {
        None | Some("" | "TRUST_RESULT_UNSPECIFIED") => {}
        Some(r) => rows.push(("Trust result", r.to_string())),
    }
    rows.push(("Tenant", e.tenant_name.to_string()));
    rows.push(("Generated at", e.generated_at.to_string()));
    if let Some(c) = e.client.filter(|c| !c.trim().is_empty()) {
        rows.push(("Client", c.to_string()));
    }
    rows
}

/// The notification channels and the e-mail/phone of the person, or how the link travelled.
fn contact(p: &WebProcessRecord) -> String {
    let mut parts = Vec::new();
    let channels: Vec<&str> = p
        .person
        .notifications
        .iter()
        .map(|c| match c.as_str() {
            "NOTIFICATION_CHANNEL_WHATSAPP" => "WhatsApp",
            "NOTIFICATION_CHANNEL_SMS" => "SMS",
            "NOTIFICATION_CHANNEL_EMAIL" => "e-mail",
            other => other,
        })
        .collect();
    if !channels.is_empty() {
        parts.push(format!("notified by {}", channels.join(", ")));
    }
    if let Some(email) = &p.person.email {
        parts.push(format!("e-mail {email}"));
    }
    if let Some(phone) = &p.person.phone {
        parts.push(format!("phone {phone}"));
    }
    if parts.is_empty() {
        "none (journey link delivered by the integrator)".to_string()
    } else {
        parts.join("; ")
    }
}

/// A view value as text: strings as is, numbers printed, anything else `—`.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "—".to_string(),
    }
}

/// A JPEG the page can embed.
#[derive(Debug, Clone, Copy)]
struct Jpeg<'a> {
    bytes: &'a [u8],
    width: u32,
    height: u32,
    gray: bool,
}

/// What happens to the selfie.
enum Selfie<'a> {
    /// Embedded (if there is room).
    Embed(Jpeg<'a>),
    /// Described by this text.
    Note(String),
}

/// Decides whether the selfie can be embedded, from the JPEG frame header.
fn plan_selfie(selfie: Option<(&[u8], ImageFormat, u32, u32)>) -> Selfie<'_> {
    let Some((bytes, format, width, height)) = selfie else {
        return Selfie::Note("not available".to_string());
    };
    let described = |extra: &str| {
        Selfie::Note(format!(
            "{}, {width}×{height}{extra} (not embedded)",
            format.media_type()
        ))
    };
    if format != ImageFormat::Jpeg {
        return described("");
    }
    match jpeg_frame(bytes) {
        Some(f) if f.precision == 8 && f.width > 0 && f.height > 0 => match f.components {
            1 | 3 => Selfie::Embed(Jpeg {
                bytes,
                width: f.width,
                height: f.height,
                gray: f.components == 1,
            }),
            4 => described(", CMYK"),
            _ => described(""),
        },
        _ => described(""),
    }
}

/// The parameters of a JPEG's frame header (SOFn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JpegFrame {
    precision: u8,
    width: u32,
    height: u32,
    components: u8,
}

/// Finds the first SOFn segment, walking the marker segments before the first scan.
fn jpeg_frame(b: &[u8]) -> Option<JpegFrame> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    loop {
        if *b.get(i)? != 0xFF {
            return None;
        }
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let marker = b[i];
        i += 1;
        match marker {
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            // A scan or the end before any frame header.
            0xDA | 0xD9 => return None,
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
        if len < 2 {
            return None;
        }
        let seg = b.get(i + 2..i + len)?;
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            if seg.len() < 6 {
                return None;
            }
            return Some(JpegFrame {
                precision: seg[0],
                height: u32::from(u16::from_be_bytes([seg[1], seg[2]])),
                width: u32::from(u16::from_be_bytes([seg[3], seg[4]])),
                components: seg[5],
            });
        }
        i += len;
    }
}

/// Draws the selfie scaled into the value column under `top`, framed, with a watermark across
/// it and a watermark line under it.
fn draw_selfie(c: &mut Content, jpeg: &Jpeg<'_>, id: &str, top: f32, max_h: f32) {
    let (w, h) = (jpeg.width as f32, jpeg.height as f32);
    let scale = (SELFIE_BOX.0 / w).min(max_h / h);
    let (sw, sh) = (w * scale, h * scale);
    let (x, y) = (VALUE_X, top - sh);
    c.text(Font::Bold, BODY_SIZE, MARGIN, top - BODY_SIZE, "Selfie");
    c.raw(&format!(
        "q {} 0 0 {} {} {} cm /Im1 Do Q\n",
        num(sw),
        num(sh),
        num(x),
        num(y)
    ));
    c.raw(&format!(
        "0.6 G 0.5 w {} {} {} {} re S\n",
        num(x),
        num(y),
        num(sw),
        num(sh)
    ));
    let mark = format!("Selo evidence — {id}");
    // Across the image, on the diagonal, half transparent: white fill with a dark outline.
    let diag = sw.hypot(sh);
    let (sin, cos) = (sh / diag, sw / diag);
    let units = text_units(&mark).max(1.0);
    let size = (0.85 * diag * 1000.0 / units).clamp(4.0, 16.0);
    let tw = units * size / 1000.0;
    let (cx, cy) = (x + sw / 2.0, y + sh / 2.0);
    let bx = cx - cos * tw / 2.0 + sin * size * 0.35;
    let by = cy - sin * tw / 2.0 - cos * size * 0.35;
    c.raw(&format!(
        "q /GS1 gs 1 g 0.25 G 0.3 w BT 2 Tr /F1 {} Tf {} {} {} {} {} {} Tm ",
        num(size),
        num(cos),
        num(sin),
        num(-sin),
        num(cos),
        num(bx),
        num(by)
    ));
    c.string(&mark);
    c.raw(" Tj ET Q\n");
    // And under it.
    c.gray(0.35);
    c.text(Font::Regular, 7.5, x, y - 11.0, &mark);
    c.gray(0.0);
}

/// The fonts of the page.
#[derive(Debug, Clone, Copy)]
enum Font {
    /// Helvetica (`/F1`).
    Regular,
    /// Helvetica-Bold (`/F2`).
    Bold,
}

/// A page content stream being written.
#[derive(Default)]
struct Content {
    buf: Vec<u8>,
}

impl Content {
    fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// Appends `s` as a WinAnsi literal string, escaping `(`, `)` and `\`.
    fn string(&mut self, s: &str) {
        self.buf.push(b'(');
        for b in win_ansi(s) {
            if matches!(b, b'(' | b')' | b'\\') {
                self.buf.push(b'\\');
            }
            self.buf.push(b);
        }
        self.buf.push(b')');
    }

    fn text(&mut self, font: Font, size: f32, x: f32, y: f32, s: &str) {
        let f = match font {
            Font::Regular => "F1",
            Font::Bold => "F2",
        };
        self.raw(&format!(
            "BT /{f} {} Tf {} {} Td ",
            num(size),
            num(x),
            num(y)
        ));
        self.string(s);
        self.raw(" Tj ET\n");
    }

    fn gray(&mut self, level: f32) {
        self.raw(&format!("{} g\n", num(level)));
    }
}

/// A PDF number: at most two decimals, no trailing zeros.
fn num(v: f32) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Encodes text in WinAnsi: Latin-1 and the WinAnsi punctuation are kept, controls become
/// spaces (line breaks, tabs) or `?`, anything else `?`.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars().map(win_ansi_byte).collect()
}

fn win_ansi_byte(c: char) -> u8 {
    match c {
        '\t' | '\n' | '\r' => b' ',
        ' '..='~' | '\u{A0}'..='\u{FF}' => c as u8,
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => b'?',
    }
}

/// Helvetica advance widths (1/1000 em) of the printable ASCII characters, from the AFM.
const HELVETICA_ASCII: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

/// The Helvetica width of a WinAnsi byte (1/1000 em); outside ASCII a safe upper estimate.
fn glyph_units(b: u8) -> f32 {
    f32::from(match b {
        32..=126 => HELVETICA_ASCII[usize::from(b - 32)],
        0x85 | 0x89 | 0x97 | 0x99 => 1000,
        0x91 | 0x92 | 0x82 => 222,
        0x93 | 0x94 | 0x84 => 333,
        0xA0 => 278,
        0xD7 => 584,
        _ => 667,
    })
}

/// The Helvetica width of `s` in 1/1000 em.
fn text_units(s: &str) -> f32 {
    s.chars().map(|c| glyph_units(win_ansi_byte(c))).sum()
}

/// Wraps a value for the value column: at most [`WRAP_CHARS`] characters and the column's
/// width per line, breaking between words and inside words longer than a line (URLs), and
/// at most [`MAX_VALUE_LINES`] lines, the last one ending with `…` when cut.
fn wrap(text: &str) -> Vec<String> {
    let max_units = (PAGE_W - MARGIN - VALUE_X) * 1000.0 / BODY_SIZE;
    let fits = |units: f32, chars: usize| units <= max_units && chars <= WRAP_CHARS;
    let space = glyph_units(b' ');
    let mut lines = Vec::new();
    let (mut line, mut units, mut chars) = (String::new(), 0.0, 0);
    for word in text.split_whitespace() {
        let (wu, wc) = (text_units(word), word.chars().count());
        if !line.is_empty() {
            if fits(units + space + wu, chars + 1 + wc) {
                line.push(' ');
                line.push_str(word);
                units += space + wu;
                chars += 1 + wc;
                continue;
            }
            lines.push(std::mem::take(&mut line));
            (units, chars) = (0.0, 0);
        }
        for c in word.chars() {
            let cu = glyph_units(win_ansi_byte(c));
            if !line.is_empty() && !fits(units + cu, chars + 1) {
                lines.push(std::mem::take(&mut line));
                (units, chars) = (0.0, 0);
            }
            line.push(c);
            units += cu;
            chars += 1;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    if lines.len() > MAX_VALUE_LINES {
        lines.truncate(MAX_VALUE_LINES);
        let last = &mut lines[MAX_VALUE_LINES - 1];
        let ellipsis = glyph_units(0x85);
        while !last.is_empty() && !fits(text_units(last) + ellipsis, last.chars().count() + 1) {
            last.pop();
        }
        last.push('…');
    }
    lines
}

/// `D:YYYYMMDDHHmmSSZ` for the info dictionary, when `rfc3339` parses.
fn pdf_date(rfc3339: &str) -> Option<String> {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?
        .to_offset(time::UtcOffset::UTC);
    Some(format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// An ASCII literal string for the info dictionary (other characters become `?`).
fn ascii_string(s: &str) -> String {
    let mut out = String::from("(");
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// Writes the objects, the cross-reference table and the trailer.
///
/// Objects: 1 catalog, 2 page tree, 3 page, 4–5 fonts, 6 content stream, 7 info, 8 image.
fn write_pdf(e: &Evidence<'_>, content: &[u8], image: Option<&Jpeg<'_>>) -> Vec<u8> {
    let mut w = Writer::default();
    w.out.extend_from_slice(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    w.object(b"<< /Type /Catalog /Pages 2 0 R >>");
    w.object(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    let extra = if image.is_some() {
        " /XObject << /Im1 8 0 R >> /ExtGState << /GS1 << /Type /ExtGState /ca 0.45 /CA 0.45 >> >>"
    } else {
        ""
    };
    w.object(
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 4 0 R \
             /F2 5 0 R >> /ProcSet [/PDF /Text /ImageB /ImageC]{extra} >> /Contents 6 0 R >>",
            num(PAGE_W),
            num(PAGE_H)
        )
        .as_bytes(),
    );
    for font in ["Helvetica", "Helvetica-Bold"] {
        w.object(
            format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>"
            )
            .as_bytes(),
        );
    }
    w.stream("", content);
    let mut info = format!(
        "<< /Title {} /Producer (Selo)",
        ascii_string(&format!("Evidence set {}", e.process.id))
    );
    if let Some(d) = pdf_date(e.generated_at) {
        info.push_str(&format!(" /CreationDate ({d})"));
    }
    info.push_str(" >>");
    w.object(info.as_bytes());
    if let Some(jpeg) = image {
        let space = if jpeg.gray {
            "/DeviceGray"
        } else {
            "/DeviceRGB"
        };
        w.stream(
            &format!(
                "/Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace {space} \
                 /BitsPerComponent 8 /Filter /DCTDecode ",
                jpeg.width, jpeg.height
            ),
            jpeg.bytes,
        );
    }
    w.finish()
}

/// Numbers objects in the order they are written and remembers where each starts.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    offsets: Vec<usize>,
}

impl Writer {
    fn begin(&mut self) {
        self.offsets.push(self.out.len());
        let n = self.offsets.len();
        self.out
            .extend_from_slice(format!("{n} 0 obj\n").as_bytes());
    }

    fn object(&mut self, body: &[u8]) {
        self.begin();
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
    }

    /// A stream object; `dict` holds the entries besides `/Length`.
    fn stream(&mut self, dict: &str, data: &[u8]) {
        self.begin();
        self.out
            .extend_from_slice(format!("<< {dict}/Length {} >>\nstream\n", data.len()).as_bytes());
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\nendstream\nendobj\n");
    }

    fn finish(mut self) -> Vec<u8> {
        let xref = self.out.len();
        let size = self.offsets.len() + 1;
        let mut table = format!("xref\n0 {size}\n0000000000 65535 f \n");
        for off in &self.offsets {
            table.push_str(&format!("{off:010} 00000 n \n"));
        }
        table.push_str(&format!(
            "trailer\n<< /Size {size} /Root 1 0 R /Info 7 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        ));
        self.out.extend_from_slice(table.as_bytes());
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use crate::web::{WebCapture, WebPerson};

    const ID: &str = "0b7f4c1e-2d3a-4f5b-8c6d-7e8f9a0b1c2d";
    const URL: &str = "https://selo.example.com/journey/0b7f4c1e-2d3a-4f5b-8c6d-7e8f9a0b1c2d?token=eyJhbGciOiJSUzI1NiJ9.abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";

    fn record(scenario: Scenario) -> WebProcessRecord {
        WebProcessRecord {
            id: ID.into(),
            tenant_id: "tenant-1".into(),
            created_at: 1_800_000_000,
            expires_at: 1_800_000_000 + 3600,
            flow: "idcheck".into(),
            purpose: "biometryonboarding".into(),
            callback_uri: "https://example.com/done".into(),
            person: WebPerson {
                dui_type: "DUI_TYPE_BR_CPF".into(),
                dui_value: "00000000191".into(),
                friendly_name: Some("Maria Conceição".into()),
                email: Some("maria@example.com".into()),
                phone: None,
                notifications: vec!["NOTIFICATION_CHANNEL_EMAIL".into()],
            },
            client_reference: Some("ref-42".into()),
            token: "tok".into(),
            capture: Some(WebCapture {
                at: 1_800_000_100,
                decision: crate::verification::CaptureDecision::scenario(scenario),
                image_type: "image/jpeg".into(),
            }),
        }
    }

    fn pdf_for(
        r: &WebProcessRecord,
        selfie: Option<(&[u8], ImageFormat, u32, u32)>,
        client: Option<&str>,
    ) -> Vec<u8> {
        let view = r.view(1_800_000_200, "https://example.com/done");
        evidence_pdf(&Evidence {
            process: r,
            view: &view,
            tenant_name: "Banco Exemplo S.A.",
            authentication_url: URL,
            selfie,
            generated_at: "2027-01-15T08:01:30Z",
            client,
        })
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    /// Checks the header, the trailer, every xref offset and `startxref`; returns the
    /// offsets of objects 1..n.
    fn check_structure(pdf: &[u8]) -> Vec<usize> {
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let sx = pdf.len() - b"%%EOF\n".len();
        let tail = std::str::from_utf8(&pdf[find(pdf, b"startxref\n").unwrap()..sx]).unwrap();
        let xref: usize = tail
            .trim_start_matches("startxref\n")
            .trim()
            .parse()
            .unwrap();
        assert!(pdf[xref..].starts_with(b"xref\n0 "));
        let table = std::str::from_utf8(&pdf[xref..sx]).unwrap();
        let mut lines = table.lines().skip(1);
        let size: usize = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(lines.next().unwrap(), "0000000000 65535 f ");
        // Each entry is exactly 20 bytes.
        let entries = &pdf[xref + format!("xref\n0 {size}\n").len()..];
        assert_eq!(&entries[..20], b"0000000000 65535 f \n");
        let mut offsets = Vec::new();
        for n in 1..size {
            let e = std::str::from_utf8(&entries[n * 20..n * 20 + 20]).unwrap();
            assert!(e.ends_with(" 00000 n \n"), "{e:?}");
            let off: usize = e[..10].parse().unwrap();
            assert!(
                pdf[off..].starts_with(format!("{n} 0 obj\n").as_bytes()),
                "object {n} is not at {off}"
            );
            offsets.push(off);
        }
        assert!(table.contains(&format!("trailer\n<< /Size {size} /Root 1 0 R")));
        offsets
    }

    /// The dictionary and stream bytes of object `n`.
    fn object(pdf: &[u8], offsets: &[usize], n: usize) -> (String, Option<Vec<u8>>) {
        let start = offsets[n - 1];
        let body = &pdf[start..];
        let end = find(body, b"endobj").unwrap();
        let body = &body[..end];
        match find(body, b">>\nstream\n") {
            Some(s) => {
                let dict = String::from_utf8_lossy(&body[..s + 2]).into_owned();
                let len: usize = dict
                    .split("/Length ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let data = &body[s + b">>\nstream\n".len()..];
                assert_eq!(&data[len..], b"\nendstream\n", "stream /Length is exact");
                (dict, Some(data[..len].to_vec()))
            }
            None => (String::from_utf8_lossy(body).into_owned(), None),
        }
    }

    /// The literal strings of the page content stream, decoded (WinAnsi), one per line.
    fn page_text(pdf: &[u8]) -> String {
        let offsets = check_structure(pdf);
        let (page, _) = object(pdf, &offsets, 3);
        assert!(page.contains("/MediaBox [0 0 595 842]"));
        let n: usize = page
            .split("/Contents ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let (_, data) = object(pdf, &offsets, n);
        literal_strings(&data.unwrap()).join("\n")
    }

    fn literal_strings(data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if data[i] != b'(' {
                i += 1;
                continue;
            }
            let mut s = String::new();
            let mut depth = 1;
            i += 1;
            while depth > 0 {
                let b = data[i];
                match b {
                    b'\\' => {
                        i += 1;
                        s.push(char::from(data[i]));
                    }
                    b'(' => {
                        depth += 1;
                        s.push('(');
                    }
                    b')' => {
                        depth -= 1;
                        if depth > 0 {
                            s.push(')');
                        }
                    }
                    0x97 => s.push('—'),
                    0x85 => s.push('…'),
                    _ => s.push(char::from(b)),
                }
                i += 1;
            }
            out.push(s);
        }
        out
    }

    fn rgb(width: u32, height: u32) -> Vec<u8> {
        (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                [(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]
            })
            .collect()
    }

    fn jpeg(width: u16, height: u16, color: jpeg_encoder::ColorType) -> Vec<u8> {
        let per_pixel = match color {
            jpeg_encoder::ColorType::Luma => 1,
            jpeg_encoder::ColorType::Cmyk => 4,
            _ => 3,
        };
        let pixels: Vec<u8> = rgb(u32::from(width), u32::from(height))
            .chunks(3)
            .flat_map(|p| {
                let mut v = p.to_vec();
                v.push(p[0] / 2);
                v.truncate(per_pixel);
                v
            })
            .collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 80)
            .encode(&pixels, width, height, color)
            .unwrap();
        out
    }

    /// The image XObjects of a PDF: (dictionary, stream).
    fn images(pdf: &[u8]) -> Vec<(String, Vec<u8>)> {
        let offsets = check_structure(pdf);
        (1..=offsets.len())
            .map(|n| object(pdf, &offsets, n))
            .filter(|(d, _)| d.contains("/Subtype /Image"))
            .map(|(d, s)| (d, s.unwrap()))
            .collect()
    }

    #[test]
    fn structure_and_contents() {
        let r = record(Scenario::Approved);
        let pdf = pdf_for(&r, None, Some("Android 14 / Chrome 126, 203.0.113.7"));
        check_structure(&pdf);
        let text = page_text(&pdf);
        for expected in [
            "Evidence set",
            ID,
            "DUI_TYPE_BR_CPF 00000000191",
            "idcheck",
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_OK",
            "AUTHENTICATION_RESULT_POSITIVE",
            "LIVENESS_RESULT_LIVE",
            VALIDATION_TYPE,
            "Maria Concei\u{e7}\u{e3}o",
            "notified by e-mail; e-mail maria@example.com",
            "ref-42",
            "2027-01-15T08:00:00Z",
            "2027-01-15T08:01:40Z",
            "Banco Exemplo S.A.",
            "2027-01-15T08:01:30Z",
            "Android 14 / Chrome 126, 203.0.113.7",
            "Selfie\nnot available",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        assert!(!text.contains("Score"));
        let offsets = check_structure(&pdf);
        let (info, _) = object(&pdf, &offsets, 7);
        assert!(info.contains("/CreationDate (D:20270115080130Z)"));
        assert!(info.contains(&format!("/Title (Evidence set {ID})")));
        assert!(images(&pdf).is_empty());
        assert!(find(&pdf, b"/XObject").is_none());
    }

    #[test]
    fn optional_rows() {
        let mut r = record(Scenario::InconclusivePositiveScore);
        r.person.friendly_name = None;
        r.person.email = None;
        r.person.notifications.clear();
        r.client_reference = None;
        let text = page_text(&pdf_for(&r, None, None));
        assert!(text.contains("Person\n—"), "{text}");
        assert!(text.contains("Score\n50"), "{text}");
        assert!(text.contains("AUTHENTICATION_RESULT_INCONCLUSIVE"));
        assert!(text.contains("none (journey link delivered by the integrator)"));
        assert!(!text.contains("Client reference"));
        assert!(!text.contains("Client\n"));
    }

    #[test]
    fn long_values_wrap() {
        let text = page_text(&pdf_for(&record(Scenario::Approved), None, None));
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| *l == "Authentication URL")
            .unwrap();
        let mut url = String::new();
        for l in &lines[at + 1..] {
            if *l == "Created at" {
                break;
            }
            assert!(l.chars().count() <= WRAP_CHARS);
            url.push_str(l);
        }
        assert_eq!(url, URL);
        assert!(lines[at + 2].starts_with(|c: char| c.is_ascii_alphanumeric()));

        let words = wrap(&"word ".repeat(60));
        assert!(words.len() > 1 && words.iter().all(|l| !l.ends_with(' ')));
        assert_eq!(words.join(" "), "word ".repeat(60).trim_end());
        let cut = wrap(&"x".repeat(2000));
        assert_eq!(cut.len(), MAX_VALUE_LINES);
        assert!(cut[MAX_VALUE_LINES - 1].ends_with('…'));
        assert_eq!(wrap(""), vec![String::new()]);
    }

    #[test]
    fn text_is_escaped_and_win_ansi() {
        let mut r = record(Scenario::Approved);
        r.person.friendly_name = Some("Ana (Bia) \\ Zoë 李".into());
        let pdf = pdf_for(&r, None, None);
        assert!(find(&pdf, b"(Ana \\(Bia\\) \\\\ Zo\xEB ?) Tj").is_some());
        assert!(page_text(&pdf).contains("Ana (Bia) \\ Zo\u{eb} ?"));
        assert_eq!(win_ansi("a—b…€\u{1F600}\n"), b"a\x97b\x85\x80? ".to_vec());
        assert_eq!(ascii_string("é (x)"), "(? \\(x\\))");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(-0.001), "0");
    }

    #[test]
    fn jpeg_selfie_is_embedded_with_a_watermark() {
        let r = record(Scenario::Approved);
        let bytes = jpeg(640, 480, jpeg_encoder::ColorType::Rgb);
        let pdf = pdf_for(&r, Some((&bytes, ImageFormat::Jpeg, 640, 480)), None);
        let imgs = images(&pdf);
        assert_eq!(imgs.len(), 1);
        let (dict, data) = &imgs[0];
        assert!(dict.contains("/Filter /DCTDecode"));
        assert!(dict.contains("/ColorSpace /DeviceRGB"));
        assert!(dict.contains("/Width 640 /Height 480"));
        assert!(dict.contains(&format!("/Length {}", bytes.len())));
        assert_eq!(data, &bytes);
        let offsets = check_structure(&pdf);
        let (page, _) = object(&pdf, &offsets, 3);
        assert!(page.contains("/XObject << /Im1 8 0 R >>"));
        let (_, content) = object(&pdf, &offsets, 6);
        let content = content.unwrap();
        // 640×480 fits 200 wide: 200×150.
        assert!(find(&content, b"q 200 0 0 150 170 ").is_some());
        assert!(find(&content, b"/Im1 Do").is_some());
        let text = page_text(&pdf);
        assert_eq!(text.matches(&format!("Selo evidence — {ID}")).count(), 2);
        assert!(!text.contains("not embedded"));

        // Portrait: limited by the 260 pt height.
        let tall = jpeg(480, 640, jpeg_encoder::ColorType::Rgb);
        let pdf = pdf_for(&r, Some((&tall, ImageFormat::Jpeg, 480, 640)), None);
        let offsets = check_structure(&pdf);
        let (_, content) = object(&pdf, &offsets, 6);
        assert!(find(&content.unwrap(), b"q 195 0 0 260 170 ").is_some());
    }

    #[test]
    fn grayscale_and_cmyk_jpegs() {
        let r = record(Scenario::Approved);
        let gray = jpeg(640, 480, jpeg_encoder::ColorType::Luma);
        assert_eq!(jpeg_frame(&gray).unwrap().components, 1);
        let pdf = pdf_for(&r, Some((&gray, ImageFormat::Jpeg, 640, 480)), None);
        let imgs = images(&pdf);
        assert!(imgs[0].0.contains("/ColorSpace /DeviceGray"));

        let cmyk = jpeg(640, 480, jpeg_encoder::ColorType::Cmyk);
        assert_eq!(jpeg_frame(&cmyk).unwrap().components, 4);
        let pdf = pdf_for(&r, Some((&cmyk, ImageFormat::Jpeg, 640, 480)), None);
        assert!(images(&pdf).is_empty());
        assert!(page_text(&pdf).contains("image/jpeg, 640×480, CMYK (not embedded)"));

        let broken = [0xFF, 0xD8, 0xFF, 0xE0, 0x00];
        let pdf = pdf_for(&r, Some((&broken, ImageFormat::Jpeg, 640, 480)), None);
        assert!(images(&pdf).is_empty());
        assert!(page_text(&pdf).contains("(not embedded)"));
    }

    #[test]
    fn png_and_webp_are_described() {
        let r = record(Scenario::Approved);
        for (format, media) in [
            (ImageFormat::Png, "image/png"),
            (ImageFormat::Webp, "image/webp"),
        ] {
            let pdf = pdf_for(&r, Some((b"not used", format, 640, 480)), None);
            assert!(images(&pdf).is_empty());
            let text = page_text(&pdf);
            assert!(
                text.contains(&format!("Selfie\n{media}, 640×480 (not embedded)")),
                "{text}"
            );
            assert!(find(&pdf, b"/XObject").is_none());
        }
    }

    #[test]
    fn long_values_leave_no_room_for_the_selfie() {
        let bytes = jpeg(640, 480, jpeg_encoder::ColorType::Rgb);
        let mut r = record(Scenario::Approved);
        r.person.dui_value = "9".repeat(320);
        r.person.friendly_name = Some("Nome ".repeat(200));
        r.client_reference = Some("r".repeat(256));
        let view = r.view(1_800_000_200, "https://example.com/done");
        let long = "x".repeat(5000);
        let render = |tenant: &str, client: &str, view: &Value| {
            evidence_pdf(&Evidence {
                process: &r,
                view,
                tenant_name: tenant,
                authentication_url: &long,
                selfie: Some((&bytes, ImageFormat::Jpeg, 640, 480)),
                generated_at: "not a date",
                client: Some(client),
            })
        };
        let pdf = render(&long, &long, &view);
        check_structure(&pdf);
        assert!(images(&pdf).is_empty());
        let text = page_text(&pdf);
        assert!(text.contains("image/jpeg, 640×480 (not embedded: no room left on the page)"));
        assert!(text.contains(&"9".repeat(60)));
        let offsets = check_structure(&pdf);
        assert!(!object(&pdf, &offsets, 7).0.contains("/CreationDate"));

        // Every value at its longest: the rows stop above the footer.
        let mut huge = view.clone();
        for key in ["createdAt", "finishedAt", "state", "result"] {
            huge[key] = Value::String(long.clone());
        }
        for key in ["authenticationResult", "livenessResult"] {
            huge["authenticationInfo"][key] = Value::String(long.clone());
        }
        let pdf = render(&long, &long, &huge);
        check_structure(&pdf);
        let text = page_text(&pdf);
        assert!(text.contains("… (truncated)"), "{text}");
        let offsets = check_structure(&pdf);
        let content = String::from_utf8_lossy(&object(&pdf, &offsets, 6).1.unwrap()).into_owned();
        for td in content.split(" Td").filter_map(|s| s.rsplit(' ').next()) {
            let y: f32 = td.parse().unwrap_or(PAGE_H);
            assert!(y >= 36.0, "text drawn at {y}");
        }
    }

    #[test]
    fn a_pdf_reader_finds_the_text() {
        let found = std::process::Command::new("which")
            .arg("pdftotext")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var("CI").is_err(),
                "a_pdf_reader_finds_the_text: pdftotext is required under CI (.ci/run installs poppler-utils)"
            );
            println!("SKIPPED a_pdf_reader_finds_the_text: install poppler-utils for pdftotext");
            return;
        }
        let r = record(Scenario::Approved);
        let bytes = jpeg(640, 480, jpeg_encoder::ColorType::Rgb);
        let pdf = pdf_for(&r, Some((&bytes, ImageFormat::Jpeg, 640, 480)), None);
        let path = std::env::temp_dir().join(format!("selo-evidence-{}.pdf", std::process::id()));
        std::fs::write(&path, &pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(ID), "{text}");
        assert!(text.contains("00000000191"));
    }
}
