//! Decoding a segment as far as its first PCM: the end point of "time to first audio".

use std::io::Cursor;

use sha2::{Digest, Sha256};
use symphonia::core::codecs::{Decoder, DecoderOptions};
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::conn::{Failure, Result};

/// Checks a segment against its manifest hash, as a player does before playing it.
pub fn verify(bytes: &[u8], sha256_hex: &str) -> Result<()> {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if hex.eq_ignore_ascii_case(sha256_hex) {
        Ok(())
    } else {
        Err(Failure("segment does not match its manifest hash".into()))
    }
}

/// symphonia's reader of mp3 `bytes` and a decoder for its track. Not gapless: every frame's
/// samples, as the client's player reads a stream (a seek trims by its window).
fn open(bytes: Vec<u8>) -> Result<(Box<dyn FormatReader>, Box<dyn Decoder>)> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let format = symphonia::default::get_probe()
        .format(
            &hint,
            source,
            &FormatOptions {
                enable_gapless: false,
                ..Default::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| Failure(format!("cannot read segment as mp3: {e}")))?
        .format;
    let track = format
        .default_track()
        .ok_or_else(|| Failure("segment has no audio track".into()))?;
    let decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| Failure(format!("no decoder: {e}")))?;
    Ok((format, decoder))
}

/// Decodes mp3 bytes until the first packet that yields samples; returns how many sample frames
/// it held.
pub fn first_pcm(bytes: Vec<u8>) -> Result<usize> {
    let (mut format, mut decoder) = open(bytes)?;
    loop {
        let packet = format
            .next_packet()
            .map_err(|e| Failure(format!("segment holds no decodable audio: {e}")))?;
        match decoder.decode(&packet) {
            Ok(audio) if audio.frames() > 0 => return Ok(audio.frames()),
            Ok(_) => {}
            // A frame that leans on a bit reservoir from before the segment may not decode; the
            // next one will, as in a player.
            Err(symphonia::core::errors::Error::DecodeError(_)) => {}
            Err(e) => return Err(Failure(format!("decoding failed: {e}"))),
        }
    }
}

/// Decodes the segments of a seek as the client does: frames before the plan's warm-up are read
/// but not decoded, the warm-up frames are decoded and dropped, and it stops at the first packet
/// holding the target sample. Returns the frames of it at and after the target.
pub fn seek_pcm(bytes: Vec<u8>, plan: &jukebox_client::player::window::Window) -> Result<usize> {
    let (mut format, mut decoder) = open(bytes)?;
    let mut frame = plan.first_frame;
    loop {
        let packet = format
            .next_packet()
            .map_err(|e| Failure(format!("no audio at the seek target: {e}")))?;
        let this = frame;
        frame += 1;
        if this < plan.decode_from_frame {
            continue;
        }
        let start = this * plan.samples_per_frame;
        match decoder.decode(&packet) {
            Ok(audio) if start + audio.frames() as u64 > plan.keep_from => {
                return Ok((start + audio.frames() as u64 - plan.keep_from) as usize)
            }
            Ok(_) | Err(symphonia::core::errors::Error::DecodeError(_)) => {}
            Err(e) => return Err(Failure(format!("decoding failed: {e}"))),
        }
    }
}
