//! Image previews for a front end: the attachment is decrypted in memory
//! (never to disk), decoded here (PNG, JPEG, GIF, WebP only) under caps on
//! the file's size and on the pixels its header declares (checked before
//! anything is decoded, so a small file claiming a huge image allocates
//! nothing), scaled down and re-encoded as PNG. The web view never parses
//! an image that came from the network.

use super::Engine;
use super::files::{FileError, decrypt_in_memory, store_task_failed};
use crate::error::{ClientError, Result};
use belfry_protocol::MessageId;
use belfry_store::Store as _;
use image::{DynamicImage, ImageDecoder as _, ImageFormat, ImageReader};

/// Files larger than this are not previewed.
pub const MAX_PREVIEW_BYTES: u64 = 20 << 20;
/// Images declaring more pixels than this are not decoded.
pub const MAX_PREVIEW_PIXELS: u64 = 40_000_000;
/// The largest preview side a caller may ask for.
pub const MAX_PREVIEW_SIDE: u32 = 4096;
/// What a decoder may allocate at most (the largest allowed image as
/// 16-bit RGBA, and its working buffers).
const MAX_DECODER_ALLOC: u64 = MAX_PREVIEW_PIXELS * 8 + (64 << 20);

/// A preview: a PNG made here from the decoded image.
#[derive(Clone, PartialEq, Eq)]
pub struct Preview {
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preview")
            .field("png", &format_args!("<{} bytes>", self.png.len()))
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl Engine {
    /// A preview of the image attached to `message`, at most `max_side`
    /// pixels wide and high (aspect kept; never enlarged). Downloads the
    /// attachment first if it is not on this device. `None` if the message
    /// has no attachment or it is not a PNG, JPEG, GIF or WebP image (by its
    /// content, whatever its name or type says);
    /// [`FileError::PreviewTooLarge`] over [`MAX_PREVIEW_BYTES`] or
    /// [`MAX_PREVIEW_PIXELS`].
    pub async fn attachment_preview(&self, message: MessageId, max_side: u32) -> Result<Option<Preview>> {
        if !(1..=MAX_PREVIEW_SIDE).contains(&max_side) {
            return Err(ClientError::Input(format!("a preview is 1 to {MAX_PREVIEW_SIDE} pixels on a side")));
        }
        self.unlocked()?;
        let Some(a) = self.inner.store.attachments_of(&message)?.into_iter().next() else { return Ok(None) };
        if a.size > MAX_PREVIEW_BYTES {
            return Err(FileError::PreviewTooLarge(format!("{} bytes, more than {MAX_PREVIEW_BYTES}", a.size)).into());
        }
        // What the sender says it is decides only whether to download it.
        if !a.mime.starts_with("image/") && matches!(a.data, belfry_store::AttachmentData::Remote) {
            return Ok(None);
        }
        let (a, _) = self.local_copy(a).await?;
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || {
            let plain = decrypt_in_memory(&store, &a)?;
            preview_of(&plain, max_side)
        })
        .await
        .map_err(store_task_failed)?
    }
}

/// Decodes `bytes` (if it is an image of an allowed format within the
/// caps) and re-encodes it as a PNG at most `max_side` on a side.
pub fn preview_of(bytes: &[u8], max_side: u32) -> Result<Option<Preview>> {
    let mut reader = match ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format() {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP)) {
        return Ok(None);
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    reader.limits(limits);
    // Reads the header only.
    let Ok(mut decoder) = reader.into_decoder() else { return Ok(None) };
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PREVIEW_PIXELS {
        return Err(
            FileError::PreviewTooLarge(format!("{width} × {height} pixels, more than {MAX_PREVIEW_PIXELS}")).into()
        );
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = match DynamicImage::from_decoder(decoder) {
        Ok(image) => image,
        Err(image::ImageError::Limits(e)) => return Err(FileError::PreviewTooLarge(e.to_string()).into()),
        // Damaged or truncated: nothing to show.
        Err(_) => return Ok(None),
    };
    image.apply_orientation(orientation);
    if image.width() > max_side || image.height() > max_side {
        image = image.thumbnail(max_side, max_side);
    }
    let image = DynamicImage::ImageRgba8(image.to_rgba8());
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| ClientError::Config(format!("cannot encode the preview: {e}")))?;
    Ok(Some(Preview { png, width: image.width(), height: image.height() }))
}
