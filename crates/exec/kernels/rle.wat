;; Run-length encoding (the compression kernel).
;; Input:  any bytes.
;; Output: for each maximal run of one byte value (split every 255 bytes), the pair (run length u8, byte).
(module
  (import "agora" "input_size" (func $input_size (result i32)))
  (import "agora" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (import "agora" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)

  (func $ensure (param $bytes i32)
    (local $pages i32)
    (local.set $pages
      (i32.sub (i32.shr_u (i32.add (local.get $bytes) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1)) (then unreachable)))))

  (func (export "run")
    (local $size i32) (local $out i32) (local $base i32) (local $i i32) (local $run i32) (local $byte i32)
    (local.set $size (call $input_size))
    ;; input, then at most two output bytes per input byte
    (call $ensure (i32.mul (local.get $size) (i32.const 3)))
    (drop (call $input_read (i32.const 0) (i32.const 0) (local.get $size)))
    (local.set $base (local.get $size))
    (local.set $out (local.get $base))
    (block $done
      (loop $runs
        (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
        (local.set $byte (i32.load8_u (local.get $i)))
        (local.set $run (i32.const 1))
        (block $run_end
          (loop $extend
            (br_if $run_end (i32.ge_u (i32.add (local.get $i) (local.get $run)) (local.get $size)))
            (br_if $run_end (i32.ge_u (local.get $run) (i32.const 255)))
            (br_if $run_end
              (i32.ne (i32.load8_u (i32.add (local.get $i) (local.get $run))) (local.get $byte)))
            (local.set $run (i32.add (local.get $run) (i32.const 1)))
            (br $extend)))
        (i32.store8 (local.get $out) (local.get $run))
        (i32.store8 offset=1 (local.get $out) (local.get $byte))
        (local.set $out (i32.add (local.get $out) (i32.const 2)))
        (local.set $i (i32.add (local.get $i) (local.get $run)))
        (br $runs)))
    (call $output_write (local.get $base) (i32.sub (local.get $out) (local.get $base)))))
