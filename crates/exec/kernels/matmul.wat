;; Dense f64 matrix multiply, C = A x B (the numeric kernel).
;; Input:  n (u32 LE), then A and B, each n*n f64 LE in row-major order.
;; Output: C, n*n f64 LE in row-major order; C[i][j] sums A[i][k]*B[k][j] for k = 0..n in that order.
;; Traps (unreachable) when the input length is not 4 + 16*n*n.
(module
  (import "agora" "input_size" (func $input_size (result i32)))
  (import "agora" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (import "agora" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)

  ;; Grows memory to hold at least $bytes bytes.
  (func $ensure (param $bytes i32)
    (local $pages i32)
    (local.set $pages
      (i32.sub (i32.shr_u (i32.add (local.get $bytes) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1)) (then unreachable)))))

  (func (export "run")
    (local $size i32) (local $n i32) (local $nn8 i32)
    (local $a i32) (local $b i32) (local $c i32)
    (local $i i32) (local $j i32) (local $k i32) (local $sum f64)
    (local.set $size (call $input_size))
    (if (i32.lt_u (local.get $size) (i32.const 4)) (then unreachable))
    (call $ensure (i32.const 4))
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    ;; 4 + 16*n*n must equal the input length (computed in i64: no overflow).
    (if (i64.ne
          (i64.add (i64.const 4)
            (i64.mul (i64.const 16) (i64.mul (i64.extend_i32_u (local.get $n)) (i64.extend_i32_u (local.get $n)))))
          (i64.extend_i32_u (local.get $size)))
      (then unreachable))
    (local.set $nn8 (i32.mul (i32.mul (local.get $n) (local.get $n)) (i32.const 8)))
    (local.set $a (i32.const 4))
    (local.set $b (i32.add (local.get $a) (local.get $nn8)))
    (local.set $c (local.get $size))
    (call $ensure (i32.add (local.get $size) (local.get $nn8)))
    (drop (call $input_read (i32.const 0) (i32.const 0) (local.get $size)))
    (block $done_i
      (loop $rows
        (br_if $done_i (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $done_j
          (loop $cols
            (br_if $done_j (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $sum (f64.const 0))
            (local.set $k (i32.const 0))
            (block $done_k
              (loop $dot
                (br_if $done_k (i32.ge_u (local.get $k) (local.get $n)))
                (local.set $sum
                  (f64.add (local.get $sum)
                    (f64.mul
                      (f64.load (i32.add (local.get $a)
                        (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $k)) (i32.const 3))))
                      (f64.load (i32.add (local.get $b)
                        (i32.shl (i32.add (i32.mul (local.get $k) (local.get $n)) (local.get $j)) (i32.const 3)))))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $dot)))
            (f64.store
              (i32.add (local.get $c)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3)))
              (local.get $sum))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
    (call $output_write (local.get $c) (local.get $nn8))))
