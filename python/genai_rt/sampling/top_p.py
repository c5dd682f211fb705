"""Top-p (HF's rule) without a full sort: bucket tokens by logit, order only the boundary band.

HF's TopPLogitsWarper sorts each row ascending and removes every token whose cumulative mass
(its own plus all smaller ones) is <= 1 - p. That cumulative mass grows with the logit, so
grouping tokens into buckets by logit settles most of them at once: a bucket whose mass, with
everything below it, stays under 1 - p is removed whole; one with more than 1 - p below it is kept
whole. Only the band of buckets in between (usually a few hundred tokens) needs ordering, done by
one ``topk``. Measured on 64 x 32,000 fp32 rows on one CPU thread: a full ``sort`` costs 146 ms;
this path costs a dozen elementwise passes and a small ``topk``.
"""

from __future__ import annotations

import torch

from genai_rt.sampling.truncation import apply_top_k_top_p

# 2048 buckets over 40 nats below the row's max logit: each bucket spans 0.02 nats (tokens within
# 2% in probability); anything lower (probability ratio < 4e-18) shares the last bucket.
NUCLEUS_BUCKETS = 2048
BUCKET_SPAN_NATS = 40.0
# Bucket decisions keep this much mass away from 1 - p: far above the float64 bucket sums' error
# and the ~1e-6 of the float32 sums that settle the band.
MASS_MARGIN = 1e-5
_NEG_INF = float("-inf")


def apply_top_p(logits: torch.Tensor, top_p: torch.Tensor) -> None:
    """Remove tokens outside the nucleus, in place, as HF's TopPLogitsWarper does.

    Rows whose boundary band holds more than V / 4 tokens take the full sort instead. Every
    decision depends on the row alone, so a seeded row samples the same whatever shares its
    batch. The result equals HF's up to float rounding of the cumulative sum at the boundary and
    the order among exactly tied boundary tokens; like HF it never removes the most likely token.

    Parameters
    ----------
    logits : torch.Tensor
        ``[R, V]`` float32 (temperature already applied), modified in place.
    top_p : torch.Tensor
        ``[R]`` float32 in (0, 1].
    """
    rows, vocab = logits.shape
    probs = logits.softmax(dim=-1)
    budget = (1 - top_p).unsqueeze(1).to(probs.dtype)
    budget64 = budget.double()
    row_max = logits.amax(dim=-1, keepdim=True)
    bucket = ((row_max - logits) * (NUCLEUS_BUCKETS / BUCKET_SPAN_NATS)).nan_to_num_(
        nan=NUCLEUS_BUCKETS - 1, posinf=NUCLEUS_BUCKETS - 1).clamp_(0, NUCLEUS_BUCKETS - 1).long()
    # bucket: [R, V], 0 holds the top logits
    # float64 bucket masses: a sequential float32 sum over a 100k-token tail bucket could err by
    # more than MASS_MARGIN in the worst case
    mass = torch.zeros(rows, NUCLEUS_BUCKETS, dtype=torch.float64, device=probs.device)
    mass.scatter_add_(1, bucket, probs.double())
    prefix = mass.cumsum(dim=-1)
    # minus the mass below each bucket (strictly, and with the bucket): both non-decreasing in the
    # bucket, so the bounds are binary searches, not passes (flips and bool sums over
    # [R, buckets] cost ~1 ms each on CPU)
    neg_strictly_below = prefix - prefix[:, -1:]
    neg_at_or_below = neg_strictly_below - mass
    # buckets from first_removed on are removed whole; the band runs from first_band to there
    first_removed = torch.searchsorted(neg_at_or_below, MASS_MARGIN - budget64)
    first_band = torch.searchsorted(neg_strictly_below, -(budget64 + MASS_MARGIN))
    # NaN/inf logits: remove nothing here and let the NaN reach the Sampler's check
    unordered = torch.isnan(prefix[:, -1:])
    first_removed.masked_fill_(unordered, NUCLEUS_BUCKETS)
    first_band.masked_fill_(unordered, NUCLEUS_BUCKETS)
    removed = bucket >= first_removed
    band = (bucket >= first_band) & ~removed
    band_sizes = band.sum(dim=-1)
    wide = band_sizes > vocab // 4
    if bool(wide.any()):
        index = wide.nonzero().squeeze(1)
        sub = logits[index]
        apply_top_k_top_p(sub, None, top_p[index])
        logits[index] = sub
    narrow = (~wide).nonzero().squeeze(1)
    if narrow.numel() == 0:
        return
    # HF never removes the largest token; it is in the band when the top bucket is
    top_in_band = (first_band == 0) & (first_removed > 0)
    if narrow.numel() < rows:
        probs, removed, band, budget = probs[narrow], removed[narrow], band[narrow], budget[narrow]
        top_in_band = top_in_band[narrow]
    remove = _remove_in_band(
        probs, removed, band, budget, top_in_band, int(band_sizes[narrow].max()))
    if narrow.numel() < rows:
        sub = logits[narrow]
        sub.masked_fill_(remove, _NEG_INF)
        logits[narrow] = sub
    else:
        logits.masked_fill_(remove, _NEG_INF)


def _remove_in_band(
    probs: torch.Tensor, removed: torch.Tensor, band: torch.Tensor, budget: torch.Tensor,
    top_in_band: torch.Tensor, band_size: int,
) -> torch.Tensor:
    """The tokens to remove: the removed buckets plus the band's tokens under the budget."""
    # below: [R, 1] mass of the removed buckets, a plain masked sum (same value in any batch);
    # a NaN here (NaN/inf logits) is carried into the result below
    # (products, not masked_fill: 2 ms against 7 ms on 64 x 32,000 on one CPU thread)
    below = (probs * removed).sum(dim=-1, keepdim=True)
    band_probs, order = (probs * band).topk(max(band_size, 1), dim=-1)
    # band_probs, order: [R, C] descending; slots past a row's band hold 0 and add nothing, so
    # the sums match those of the row's own band size
    in_band = band.gather(1, order)
    cumulative = below + band_probs.flip(-1).cumsum(dim=-1)
    # a NaN mass (NaN/inf logits) compares False: nothing is removed and the NaN reaches the draw
    remove_sorted = (cumulative <= budget).flip(-1) & in_band
    remove_sorted[:, :1] &= ~top_in_band
    remove = removed.clone()
    remove.scatter_(1, order, remove_sorted | removed.gather(1, order))
    return remove
