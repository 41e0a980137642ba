/**
 * GUP_PIN_COUNTING_BIAS (include/linux/mm.h): a FOLL_PIN reference adds this much to a small
 * folio's refcount, so `folio_maybe_dma_pinned` is `refcount >= GUP_PIN_COUNTING_BIAS`.
 * @module
 */

/** Refcount added by one pin. */
export const GUP_PIN_COUNTING_BIAS = 1024;
