;; The page-table pool's WebAssembly walk: the PTE loop of an hmm_range_fault snapshot.
;;
;; Built by scripts/build-wasm.mjs into pt-walk-wasm.ts (the bytes, committed); a test checks
;; that the two agree. The memory is imported: the pool's tables (8-byte entries, lo word then
;; hi word, at byte 8 * word-offset / 2) followed by a scratch area of 512 hmm_pfns words.
;;
;; snapshot(pte, out, n) describes up to n consecutive PTEs starting at byte `pte` into the
;; 64-bit words at byte `out` (pfn in the low half; in the high half VALID, WRITE for a writable
;; PTE, and the sticky bits 58..60 the word already had), exactly as hmm_vma_handle_pte does for
;; a present, accessible, normal page when nothing is requested. It stops at the first PTE that
;; is anything else (lo & (KIND_MASK | PROTNONE | SPECIAL) != PRESENT) and returns how many it
;; described; the caller handles that PTE. Literals, in the terms of src/mm/pte.ts and
;; src/hmm/hmm-pfn.ts: 0x18f = PTE_KIND_MASK | PTE_PROTNONE | PTE_SPECIAL, 2 = PTE_PRESENT,
;; 0x10 = PTE_WRITE (shifted left by 26 it is HI_WRITE), 0x80000000 = HI_VALID,
;; 0x1c000000 = HI_INOUT.
(module
  (import "pt" "memory" (memory 1))
  (func $snapshot (export "snapshot") (param $pte i32) (param $out i32) (param $n i32) (result i32)
    (local $k i32)
    (local $sw v128)
    (local $sw2 v128)
    (local $lo i32)
    ;; Four entries per step, two to a vector: lanes [lo0, hi0, lo1, hi1] swapped to
    ;; [hi0, lo0, hi1, lo1], so the pfn lanes line up with the words' low halves and the flag
    ;; lanes with their high halves.
    (block $slow
      (loop $quads
        (br_if $slow (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $n)))
        (local.set $sw
          (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11
            (v128.load (local.get $pte)) (v128.load (local.get $pte))))
        (local.set $sw2
          (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11
            (v128.load offset=16 (local.get $pte)) (v128.load offset=16 (local.get $pte))))
        (br_if $slow
          (i32.eqz
            (i32x4.all_true
              (v128.and
                (i32x4.eq
                  (v128.and (local.get $sw) (v128.const i32x4 0 0x18f 0 0x18f))
                  (v128.const i32x4 0 2 0 2))
                (i32x4.eq
                  (v128.and (local.get $sw2) (v128.const i32x4 0 0x18f 0 0x18f))
                  (v128.const i32x4 0 2 0 2))))))
        (v128.store (local.get $out)
          (v128.or
            (v128.and (local.get $sw) (v128.const i32x4 -1 0 -1 0))
            (v128.or
              (v128.and (v128.load (local.get $out)) (v128.const i32x4 0 0x1c000000 0 0x1c000000))
              (v128.or
                (v128.const i32x4 0 0x80000000 0 0x80000000)
                (i32x4.shl (v128.and (local.get $sw) (v128.const i32x4 0 0x10 0 0x10)) (i32.const 26))))))
        (v128.store offset=16 (local.get $out)
          (v128.or
            (v128.and (local.get $sw2) (v128.const i32x4 -1 0 -1 0))
            (v128.or
              (v128.and (v128.load offset=16 (local.get $out)) (v128.const i32x4 0 0x1c000000 0 0x1c000000))
              (v128.or
                (v128.const i32x4 0 0x80000000 0 0x80000000)
                (i32x4.shl (v128.and (local.get $sw2) (v128.const i32x4 0 0x10 0 0x10)) (i32.const 26))))))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (local.set $pte (i32.add (local.get $pte) (i32.const 32)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (br $quads)))
    ;; One entry at a time: the last three or fewer, or up to the entry that is not for this loop.
    (block $done
      (loop $single
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $lo (i32.load (local.get $pte)))
        (br_if $done (i32.ne (i32.and (local.get $lo) (i32.const 0x18f)) (i32.const 2)))
        (i32.store (local.get $out) (i32.load offset=4 (local.get $pte)))
        (i32.store offset=4 (local.get $out)
          (i32.or
            (i32.and (i32.load offset=4 (local.get $out)) (i32.const 0x1c000000))
            (i32.or (i32.const 0x80000000)
              (i32.shl (i32.and (local.get $lo) (i32.const 0x10)) (i32.const 26)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (local.set $pte (i32.add (local.get $pte) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (br $single)))
    (local.get $k))

  ;; snapshot_pmds(pmd, first, n, out): the same over the PTE tables of consecutive PMD entries,
  ;; from PTE `first` of the table of the PMD entry at byte `pmd`, for up to n pages. Stops at a
  ;; PMD entry that is not a table pointer (lo & (KIND_MASK | PTE_LEAF) != PTE_TABLE, with
  ;; 0x20f = PTE_KIND_MASK | PTE_LEAF and 1 = PTE_TABLE) or at a PTE snapshot stops at; returns
  ;; the pages described. A table's entries start at byte 4096 * its index (hi word).
  (func (export "snapshot_pmds") (param $pmd i32) (param $first i32) (param $n i32) (param $out i32)
    (result i32)
    (local $done i32)
    (local $m i32)
    (local $k i32)
    (block $stop
      (loop $tables
        (br_if $stop (i32.ge_u (local.get $done) (local.get $n)))
        (br_if $stop (i32.ne (i32.and (i32.load (local.get $pmd)) (i32.const 0x20f)) (i32.const 1)))
        (local.set $m (i32.sub (i32.const 512) (local.get $first)))
        (if (i32.gt_u (local.get $m) (i32.sub (local.get $n) (local.get $done)))
          (then (local.set $m (i32.sub (local.get $n) (local.get $done)))))
        (local.set $k
          (call $snapshot
            (i32.add
              (i32.shl (i32.load offset=4 (local.get $pmd)) (i32.const 12))
              (i32.shl (local.get $first) (i32.const 3)))
            (local.get $out)
            (local.get $m)))
        (local.set $done (i32.add (local.get $done) (local.get $k)))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 3))))
        (br_if $stop (i32.lt_u (local.get $k) (local.get $m)))
        (local.set $pmd (i32.add (local.get $pmd) (i32.const 8)))
        (local.set $first (i32.const 0))
        (br $tables)))
    (local.get $done)))
