;; FastCDC's cut search (chunker.ts `findCut`) in WebAssembly: the same gear hash, masks and
;; bounds, about 3x faster than the JavaScript loop on this project's machine (bench/chunkstore).
;; Also the codec's probe (codec.ts `windowDistinct`): the distinct byte values of a window.
;;
;; Memory layout, set up by gear-wasm.ts:
;;   [0, 1024)      the gear table, 256 little-endian i32 (chunker.ts GEAR)
;;   [1024, 2048)   `distinct`'s table: 256 i32, the last window each byte value was seen in
;;   [2048, ...)    the bytes loaded; every offset below is relative to byte 2048
;;
;; The caller guarantees start < end <= the bytes loaded, and that the lengths fit in i32.
;; Build: npm run build:wasm (writes gear-wasm-bytes.ts); a test checks the two agree.
(module
  (memory (export "memory") 1)
  ;; The window `distinct` counts now; a table slot holding it has been seen in this window.
  ;; Exported so a test can bring the wrap near.
  (global $window (export "window") (mut i32) (i32.const 0))
  ;; How many distinct values bytes start, start + 3, ... (below end) take.
  (func (export "distinct") (param $start i32) (param $end i32) (result i32)
    (local $i i32) (local $slot i32) (local $count i32) (local $stamp i32)
    (local.set $stamp (i32.add (global.get $window) (i32.const 1)))
    ;; After 2^32 windows the stamps wrap: start the table afresh rather than meet an old one.
    (if (i32.eqz (local.get $stamp))
      (then
        (memory.fill (i32.const 1024) (i32.const 0) (i32.const 1024))
        (local.set $stamp (i32.const 1))))
    (global.set $window (local.get $stamp))
    (local.set $i (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $slot (i32.shl (i32.load8_u offset=2048 (local.get $i)) (i32.const 2)))
        (local.set $count
          (i32.add (local.get $count)
            (i32.ne (i32.load offset=1024 (local.get $slot)) (local.get $stamp))))
        (i32.store offset=1024 (local.get $slot) (local.get $stamp))
        (local.set $i (i32.add (local.get $i) (i32.const 3)))
        (br $next)))
    (local.get $count))
  (func (export "cut")
    (param $start i32) (param $end i32)
    (param $minSize i32) (param $avgSize i32) (param $maxSize i32)
    (param $maskS i32) (param $maskL i32)
    (result i32)
    (local $length i32) (local $normal i32) (local $barrier i32) (local $i i32) (local $hash i32)
    (local.set $length (i32.sub (local.get $end) (local.get $start)))
    ;; A chunk no longer than minSize is the rest of the input.
    (if (i32.le_u (local.get $length) (local.get $minSize))
      (then (return (local.get $end))))
    (local.set $barrier
      (i32.add (local.get $start)
        (select (local.get $length) (local.get $maxSize)
          (i32.lt_u (local.get $length) (local.get $maxSize)))))
    (local.set $normal
      (i32.add (local.get $start)
        (select (local.get $length) (local.get $avgSize)
          (i32.lt_u (local.get $length) (local.get $avgSize)))))
    (local.set $i (i32.add (local.get $start) (local.get $minSize)))
    ;; Before avgSize: the harder mask.
    (block $small_done
      (loop $small
        (br_if $small_done (i32.ge_u (local.get $i) (local.get $normal)))
        (local.set $hash
          (i32.add
            (i32.shl (local.get $hash) (i32.const 1))
            (i32.load (i32.shl (i32.load8_u offset=2048 (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $maskS)))
          (then (return (local.get $i))))
        (br $small)))
    ;; From avgSize to maxSize: the easier mask.
    (block $large_done
      (loop $large
        (br_if $large_done (i32.ge_u (local.get $i) (local.get $barrier)))
        (local.set $hash
          (i32.add
            (i32.shl (local.get $hash) (i32.const 1))
            (i32.load (i32.shl (i32.load8_u offset=2048 (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $maskL)))
          (then (return (local.get $i))))
        (br $large)))
    ;; No boundary before maxSize: cut there (or at the end of the input when it comes first).
    (local.get $barrier)))
