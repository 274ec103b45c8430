//! The system's libvpx decoder, loaded at run time, behind a safe handle: one decoder context per video,
//! frames out as RGB.
//!
//! Loading at run time (as the binary loads ONNX Runtime) keeps the build free of a C toolchain's headers and
//! `pkg-config`: the binary builds anywhere, and the liveness stream needs only the shared library (Debian's
//! `libvpx7`, which ffmpeg and Chromium already depend on). The declarations below are libvpx's decoder ABI
//! ([`DECODER_ABI_VERSION`] 12, unchanged from libvpx 1.8 to 1.15); libvpx itself refuses another ABI.
//!
//! This is the crate's only `unsafe` code. Every pointer libvpx hands out is read within the call that got it
//! (the frame buffer is libvpx's until the next `decode`), and the context is destroyed on drop.

use std::ffi::{c_char, c_int, c_long, c_uint, c_void, CStr};
use std::sync::OnceLock;

use image::RgbImage;

use crate::yuv::{i420_to_rgb, Plane};
use crate::VideoError;

/// The codecs libvpx decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Vp8,
    Vp9,
}

impl Codec {
    /// The codec of a Matroska `CodecID`.
    pub fn from_matroska(id: &str) -> Option<Codec> {
        match id {
            "V_VP8" => Some(Codec::Vp8),
            "V_VP9" => Some(Codec::Vp9),
            _ => None,
        }
    }
}

/// `VPX_DECODER_ABI_VERSION`: `3 + VPX_CODEC_ABI_VERSION` (`4 + VPX_IMAGE_ABI_VERSION` 5).
const DECODER_ABI_VERSION: c_int = 12;
const CODEC_OK: c_int = 0;
/// `VPX_IMG_FMT_I420` and `VPX_IMG_FMT_YV12`.
const IMG_FMT_I420: c_int = 0x102;
const IMG_FMT_YV12: c_int = 0x301;

/// The shared library's names, newest first.
const LIBRARY_NAMES: [&str; 5] = ["libvpx.so.9", "libvpx.so.8", "libvpx.so.7", "libvpx.so.6", "libvpx.so"];

/// `vpx_codec_ctx_t`.
#[repr(C)]
struct CodecCtx {
    name: *const c_char,
    iface: *const c_void,
    err: c_int,
    err_detail: *const c_char,
    init_flags: c_long,
    config: *const c_void,
    priv_: *mut c_void,
}

/// `vpx_codec_dec_cfg_t`.
#[repr(C)]
struct DecCfg {
    threads: c_uint,
    w: c_uint,
    h: c_uint,
}

/// `vpx_image_t` (the enums as the C ints they are).
#[repr(C)]
struct Image {
    fmt: c_int,
    cs: c_int,
    range: c_int,
    w: c_uint,
    h: c_uint,
    bit_depth: c_uint,
    d_w: c_uint,
    d_h: c_uint,
    r_w: c_uint,
    r_h: c_uint,
    x_chroma_shift: c_uint,
    y_chroma_shift: c_uint,
    planes: [*mut u8; 4],
    stride: [c_int; 4],
    bps: c_int,
    user_priv: *mut c_void,
    img_data: *mut u8,
    img_data_owner: c_int,
    self_allocd: c_int,
    fb_priv: *mut c_void,
}

type Iface = unsafe extern "C" fn() -> *const c_void;

/// The decoder functions of the loaded library.
struct Api {
    vp8_dx: Iface,
    vp9_dx: Iface,
    dec_init_ver: unsafe extern "C" fn(*mut CodecCtx, *const c_void, *const DecCfg, c_long, c_int) -> c_int,
    decode: unsafe extern "C" fn(*mut CodecCtx, *const u8, c_uint, *mut c_void, c_long) -> c_int,
    get_frame: unsafe extern "C" fn(*mut CodecCtx, *mut *const c_void) -> *const Image,
    destroy: unsafe extern "C" fn(*mut CodecCtx) -> c_int,
    err_to_string: unsafe extern "C" fn(c_int) -> *const c_char,
    error_detail: unsafe extern "C" fn(*const CodecCtx) -> *const c_char,
    /// Kept loaded for the process's life: the functions above point into it.
    _library: libloading::Library,
}

// SAFETY: plain function pointers into a library that stays loaded; libvpx's functions are thread-safe per
// context.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

fn load() -> Result<Api, String> {
    let mut tried = Vec::new();
    for name in LIBRARY_NAMES {
        // SAFETY: loading libvpx runs no initialisers beyond its own.
        let library = match unsafe { libloading::Library::new(name) } {
            Ok(l) => l,
            Err(e) => {
                tried.push(format!("{name}: {e}"));
                continue;
            }
        };
        // SAFETY: the symbols are libvpx's, with the signatures its headers declare (above).
        unsafe {
            macro_rules! sym {
                ($name:literal) => {
                    *library.get($name).map_err(|e| format!("{name}: {e}"))?
                };
            }
            return Ok(Api {
                vp8_dx: sym!(b"vpx_codec_vp8_dx\0"),
                vp9_dx: sym!(b"vpx_codec_vp9_dx\0"),
                dec_init_ver: sym!(b"vpx_codec_dec_init_ver\0"),
                decode: sym!(b"vpx_codec_decode\0"),
                get_frame: sym!(b"vpx_codec_get_frame\0"),
                destroy: sym!(b"vpx_codec_destroy\0"),
                err_to_string: sym!(b"vpx_codec_err_to_string\0"),
                error_detail: sym!(b"vpx_codec_error_detail\0"),
                _library: library,
            });
        }
    }
    Err(format!("libvpx is not installed (apt-get install libvpx7): {}", tried.join("; ")))
}

fn api() -> Result<&'static Api, VideoError> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(|e| VideoError::Decoder(e.clone()))
}

/// Whether the decoder can be loaded, and if not, why.
pub fn available() -> Result<(), VideoError> {
    api().map(|_| ())
}

/// A libvpx decoder context.
pub struct Decoder {
    api: &'static Api,
    ctx: Box<CodecCtx>,
}

// SAFETY: the context is owned by this value alone and libvpx keeps no thread-bound state in it.
unsafe impl Send for Decoder {}

impl Decoder {
    pub fn new(codec: Codec) -> Result<Decoder, VideoError> {
        let api = api()?;
        let mut ctx = Box::new(CodecCtx {
            name: std::ptr::null(),
            iface: std::ptr::null(),
            err: 0,
            err_detail: std::ptr::null(),
            init_flags: 0,
            config: std::ptr::null(),
            priv_: std::ptr::null_mut(),
        });
        let cfg = DecCfg { threads: 1, w: 0, h: 0 };
        // SAFETY: the interface functions return libvpx's static tables; the context is a zeroed
        // `vpx_codec_ctx_t` that the call initialises, and is destroyed on drop only when it succeeded.
        let code = unsafe {
            let iface = match codec {
                Codec::Vp8 => (api.vp8_dx)(),
                Codec::Vp9 => (api.vp9_dx)(),
            };
            (api.dec_init_ver)(&mut *ctx, iface, &cfg, 0, DECODER_ABI_VERSION)
        };
        if code != CODEC_OK {
            // No context to destroy: report the code's text alone.
            // SAFETY: libvpx returns a static string for any code.
            let text = unsafe { CStr::from_ptr((api.err_to_string)(code)) }.to_string_lossy().into_owned();
            return Err(VideoError::Decoder(text));
        }
        Ok(Decoder { api, ctx })
    }

    fn error_text(&self, code: c_int) -> String {
        // SAFETY: static strings from libvpx, and the context's detail read at once.
        unsafe {
            let text = CStr::from_ptr((self.api.err_to_string)(code)).to_string_lossy().into_owned();
            let detail = (self.api.error_detail)(&*self.ctx);
            if detail.is_null() {
                text
            } else {
                format!("{text} ({})", CStr::from_ptr(detail).to_string_lossy())
            }
        }
    }

    /// Decodes one compressed frame and hands each picture it shows to `shown` (VP8 shows at most one; a VP9
    /// superframe may hold several). The pictures must be 8-bit 4:2:0.
    pub fn decode(&mut self, data: &[u8], mut shown: impl FnMut(RgbImage)) -> Result<(), VideoError> {
        let size = c_uint::try_from(data.len()).map_err(|_| VideoError::Corrupt("a frame of over 4 GiB".into()))?;
        // SAFETY: `data` outlives the call; libvpx copies what it keeps.
        let code = unsafe { (self.api.decode)(&mut *self.ctx, data.as_ptr(), size, std::ptr::null_mut(), 0) };
        if code != CODEC_OK {
            return Err(VideoError::Corrupt(self.error_text(code)));
        }
        let mut iter: *const c_void = std::ptr::null();
        loop {
            // SAFETY: the image, when not null, is valid until the next decode call; it is converted here.
            let img = unsafe { (self.api.get_frame)(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                return Ok(());
            }
            // SAFETY: as above.
            let rgb = unsafe { to_rgb(&*img) }?;
            shown(rgb);
        }
    }
}

/// Converts a libvpx picture to RGB.
///
/// # Safety
/// `img`'s planes must be valid for its strides and displayed size, as libvpx guarantees for the picture it
/// just returned.
unsafe fn to_rgb(img: &Image) -> Result<RgbImage, VideoError> {
    let i420 = img.fmt == IMG_FMT_I420 || img.fmt == IMG_FMT_YV12;
    if !i420 || img.bit_depth != 8 || img.x_chroma_shift != 1 || img.y_chroma_shift != 1 {
        return Err(VideoError::UnsupportedCodec(format!(
            "a picture format other than 8-bit 4:2:0 (libvpx format {:#x})",
            img.fmt
        )));
    }
    let (w, h) = (img.d_w, img.d_h);
    let strides: [usize; 3] = std::array::from_fn(|i| usize::try_from(img.stride[i]).unwrap_or(0));
    if w == 0 || h == 0 || strides.contains(&0) || img.planes[..3].iter().any(|p| p.is_null()) {
        return Err(VideoError::Corrupt("an empty picture".into()));
    }
    let rows = [h as usize, (h as usize).div_ceil(2), (h as usize).div_ceil(2)];
    let plane = |i: usize| {
        // SAFETY: the caller's promise: each plane holds its rows at its stride.
        let data = unsafe { std::slice::from_raw_parts(img.planes[i], strides[i] * rows[i]) };
        Plane { data, stride: strides[i] }
    };
    // YV12 holds V before U.
    let (u, v) = if img.fmt == IMG_FMT_YV12 { (2, 1) } else { (1, 2) };
    i420_to_rgb(w, h, plane(0), plane(u), plane(v)).ok_or_else(|| VideoError::Corrupt("a picture's planes".into()))
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed once.
        unsafe {
            (self.api.destroy)(&mut *self.ctx);
        }
    }
}
