;; CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) of the input (the hashing kernel).
;; Input:  any bytes.
;; Output: the CRC as 4 bytes, little-endian.
;; The 256-entry table is built by the job itself at 0..1024; the input follows it.
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

  (func $table
    (local $n i32) (local $c i32) (local $bit i32)
    (block $done
      (loop $entries
        (br_if $done (i32.ge_u (local.get $n) (i32.const 256)))
        (local.set $c (local.get $n))
        (local.set $bit (i32.const 0))
        (block $bits_done
          (loop $bits
            (br_if $bits_done (i32.ge_u (local.get $bit) (i32.const 8)))
            (local.set $c
              (select
                (i32.xor (i32.const 0xEDB88320) (i32.shr_u (local.get $c) (i32.const 1)))
                (i32.shr_u (local.get $c) (i32.const 1))
                (i32.and (local.get $c) (i32.const 1))))
            (local.set $bit (i32.add (local.get $bit) (i32.const 1)))
            (br $bits)))
        (i32.store (i32.shl (local.get $n) (i32.const 2)) (local.get $c))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $entries))))

  (func (export "run")
    (local $size i32) (local $i i32) (local $crc i32) (local $end i32)
    (local.set $size (call $input_size))
    ;; table, input, 4 output bytes
    (call $ensure (i32.add (local.get $size) (i32.const 1028)))
    (call $table)
    (drop (call $input_read (i32.const 1024) (i32.const 0) (local.get $size)))
    (local.set $crc (i32.const -1))
    (local.set $i (i32.const 1024))
    (local.set $end (i32.add (i32.const 1024) (local.get $size)))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $crc
          (i32.xor
            (i32.load (i32.shl
              (i32.and (i32.xor (local.get $crc) (i32.load8_u (local.get $i))) (i32.const 255))
              (i32.const 2)))
            (i32.shr_u (local.get $crc) (i32.const 8))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $bytes)))
    (i32.store (local.get $end) (i32.xor (local.get $crc) (i32.const -1)))
    (call $output_write (local.get $end) (i32.const 4))))
