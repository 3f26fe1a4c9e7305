// table-inl.hpp: fills a KernelTable with the entry points of loop-inl.hpp.
// No include guard: included by each ISA's .cpp inside its namespace but *after* its
// target region is popped, so this code stays at the baseline ISA.

static void fill_table(KernelTable& t) {
  t.forward[static_cast<int>(DType::f16)] = &forward_entry<Half>;
  t.forward[static_cast<int>(DType::bf16)] = &forward_entry<BFloat16>;
  t.forward[static_cast<int>(DType::f32)] = &forward_entry<float>;
  t.forward[static_cast<int>(DType::f64)] = &forward_entry<double>;
  t.apply[static_cast<int>(DType::f16)] = &apply_entry<Half>;
  t.apply[static_cast<int>(DType::bf16)] = &apply_entry<BFloat16>;
  t.apply[static_cast<int>(DType::f32)] = &apply_entry<float>;
  t.apply[static_cast<int>(DType::f64)] = &apply_entry<double>;
  t.mask = &mask_entry;
}
