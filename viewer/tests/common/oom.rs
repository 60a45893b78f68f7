//! An out-of-memory report written by hand, as the analysis would fill `Report.oom` for a
//! diffusers-style pipeline whose VAE decode does not fit a 4 GiB device: the reports and the
//! live view are tested on it before the analysis makes one.

use gpuleak_analysis::{
    Advice, AdviceKind, FailedRequest, OomCause, OomPart, OomReport, PartKind, PartShare,
};

pub const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The pipeline's failure: 2 GiB of weights, 1 GiB of the decode in flight, a cuBLAS workspace,
/// the CUDA context (an estimate), and 448 MiB free when 1 GiB was asked for; `label` names the
/// request.
pub fn decode_oom(label: &str) -> OomReport {
    OomReport {
        index: 0,
        request: FailedRequest {
            label: label.to_string(),
            api: "cudaMalloc".to_string(),
            bytes: GIB,
            retried_after_freeing: true,
            freed_before_retry_bytes: 141 * MIB,
        },
        device_total_bytes: Some(4 * GIB),
        parts: vec![
            OomPart {
                part: PartKind::Loaded,
                bytes: 2 * GIB,
                by: vec![
                    PartShare {
                        label: "UNET (UNet2DConditionModel)".to_string(),
                        bytes: 1640 * MIB,
                    },
                    PartShare {
                        label: "TEXT_ENCODER (CLIPTextModel)".to_string(),
                        bytes: 246 * MIB,
                    },
                    PartShare {
                        label: "VAE (AutoencoderKL)".to_string(),
                        bytes: 162 * MIB,
                    },
                ],
                estimated: false,
                note: String::new(),
            },
            OomPart {
                part: PartKind::Working,
                bytes: GIB + 256 * MIB,
                by: vec![PartShare {
                    label: "Decoder.forward (vae.py:300)".to_string(),
                    bytes: GIB,
                }],
                estimated: false,
                note: String::new(),
            },
            OomPart {
                part: PartKind::Free,
                bytes: 448 * MIB,
                by: vec![],
                estimated: false,
                note: String::new(),
            },
            OomPart {
                part: PartKind::Outside,
                bytes: 300 * MIB,
                by: vec![],
                estimated: true,
                note: "the driver's used memory minus what the process holds".to_string(),
            },
            OomPart {
                part: PartKind::Libraries,
                bytes: 8 * MIB,
                by: vec![PartShare {
                    label: "cuBLAS".to_string(),
                    bytes: 8 * MIB,
                }],
                estimated: false,
                note: String::new(),
            },
        ],
        unexplained_bytes: Some(12 * MIB as i64),
        cause: OomCause::StepPeak,
        short_by_bytes: 576 * MIB,
        advice: vec![
            Advice {
                advice: AdviceKind::VaeTiling,
                saves_bytes: Some(768 * MIB),
                evidence: "the failed request came from Decoder.forward (vae.py:300)".to_string(),
            },
            Advice {
                advice: AdviceKind::SmallerInput,
                saves_bytes: None,
                evidence: "one request's working memory is 1.25 GiB".to_string(),
            },
        ],
    }
}
