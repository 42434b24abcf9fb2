;; 3x3 Gaussian blur of a grayscale image (the image filter).
;; Input:  width (u32 LE), height (u32 LE), then width*height pixels (u8), row-major.
;; Output: width*height pixels: (1 2 1 / 2 4 2 / 1 2 1 weighted sum + 8) / 16, edges clamped.
;; Traps (unreachable) when the input length is not 8 + width*height.
(module
  (import "agora" "input_size" (func $input_size (result i32)))
  (import "agora" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (import "agora" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (global $w (mut i32) (i32.const 0))
  (global $h (mut i32) (i32.const 0))

  (func $ensure (param $bytes i32)
    (local $pages i32)
    (local.set $pages
      (i32.sub (i32.shr_u (i32.add (local.get $bytes) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1)) (then unreachable)))))

  ;; The pixel at (x, y) with both coordinates clamped into the image.
  (func $px (param $x i32) (param $y i32) (result i32)
    (if (i32.lt_s (local.get $x) (i32.const 0)) (then (local.set $x (i32.const 0))))
    (if (i32.ge_s (local.get $x) (global.get $w)) (then (local.set $x (i32.sub (global.get $w) (i32.const 1)))))
    (if (i32.lt_s (local.get $y) (i32.const 0)) (then (local.set $y (i32.const 0))))
    (if (i32.ge_s (local.get $y) (global.get $h)) (then (local.set $y (i32.sub (global.get $h) (i32.const 1)))))
    (i32.load8_u offset=8 (i32.add (i32.mul (local.get $y) (global.get $w)) (local.get $x))))

  (func (export "run")
    (local $size i32) (local $out i32) (local $x i32) (local $y i32) (local $sum i32)
    (local.set $size (call $input_size))
    (if (i32.lt_u (local.get $size) (i32.const 8)) (then unreachable))
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 8)))
    (global.set $w (i32.load (i32.const 0)))
    (global.set $h (i32.load (i32.const 4)))
    (if (i64.ne
          (i64.add (i64.const 8) (i64.mul (i64.extend_i32_u (global.get $w)) (i64.extend_i32_u (global.get $h))))
          (i64.extend_i32_u (local.get $size)))
      (then unreachable))
    (local.set $out (local.get $size))
    (call $ensure (i32.sub (i32.shl (local.get $size) (i32.const 1)) (i32.const 8)))
    (drop (call $input_read (i32.const 0) (i32.const 0) (local.get $size)))
    (block $done_y
      (loop $rows
        (br_if $done_y (i32.ge_u (local.get $y) (global.get $h)))
        (local.set $x (i32.const 0))
        (block $done_x
          (loop $cols
            (br_if $done_x (i32.ge_u (local.get $x) (global.get $w)))
            (local.set $sum
              (i32.add
                (i32.add
                  (i32.add
                    (call $px (i32.sub (local.get $x) (i32.const 1)) (i32.sub (local.get $y) (i32.const 1)))
                    (i32.shl (call $px (local.get $x) (i32.sub (local.get $y) (i32.const 1))) (i32.const 1)))
                  (i32.add
                    (call $px (i32.add (local.get $x) (i32.const 1)) (i32.sub (local.get $y) (i32.const 1)))
                    (i32.shl (call $px (i32.sub (local.get $x) (i32.const 1)) (local.get $y)) (i32.const 1))))
                (i32.add
                  (i32.add
                    (i32.shl (call $px (local.get $x) (local.get $y)) (i32.const 2))
                    (i32.shl (call $px (i32.add (local.get $x) (i32.const 1)) (local.get $y)) (i32.const 1)))
                  (i32.add
                    (i32.add
                      (call $px (i32.sub (local.get $x) (i32.const 1)) (i32.add (local.get $y) (i32.const 1)))
                      (i32.shl (call $px (local.get $x) (i32.add (local.get $y) (i32.const 1))) (i32.const 1)))
                    (call $px (i32.add (local.get $x) (i32.const 1)) (i32.add (local.get $y) (i32.const 1)))))))
            (i32.store8
              (i32.add (local.get $out) (i32.add (i32.mul (local.get $y) (global.get $w)) (local.get $x)))
              (i32.shr_u (i32.add (local.get $sum) (i32.const 8)) (i32.const 4)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $cols)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows)))
    (call $output_write (local.get $out) (i32.sub (local.get $size) (i32.const 8)))))
