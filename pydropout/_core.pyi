"""Type stubs for pydropout._core, the compiled extension (private: use ``pydropout``).

Arrays passed to the kernels are native, aligned, C-contiguous; ``pydropout._common``
checks everything before calling them. Dtype codes: float16=0, bfloat16=1, float32=2,
float64=3. The module also has ``__version__`` (str), the CMake project version of the
build (not stubbed here: tests/test_packaging.py compares the non-dunder names only).
"""

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import NDArray

_Int = Union[int, np.integer[Any]]
_State = Tuple[int, int, int]
_Mask = NDArray[np.uint8]  # a packed mask: bit i % 8 of byte i // 8
_OptMask = Optional[_Mask]

class Generator:
    """Philox4x32-10 stream state (seed, stream, offset); shared safely between threads."""

    def __init__(
        self, seed: Optional[_Int] = None, *, stream: _Int = 0, offset: _Int = 0
    ) -> None: ...
    @property
    def seed(self) -> int: ...
    @seed.setter
    def seed(self, value: _Int) -> None: ...
    @property
    def stream(self) -> int: ...
    @stream.setter
    def stream(self, value: _Int) -> None: ...
    @property
    def offset(self) -> int: ...
    @offset.setter
    def offset(self, value: _Int) -> None: ...
    def get_state(self) -> _State: ...
    def set_state(self, state: Union[Sequence[_Int], Mapping[str, _Int]]) -> None: ...
    def manual_seed(self, seed: _Int) -> Generator: ...
    def _reserve(self, n: _Int) -> _State: ...
    def __getstate__(self) -> _State: ...
    def __setstate__(self, state: _State) -> None: ...

default_generator: Generator

def forward(
    x: np.ndarray,
    y: np.ndarray,
    mask: _OptMask,
    dtype_code: int,
    threshold: int,
    drop_all: bool,
    scale: float,
    apply_scale: bool,
    seed: int,
    stream: int,
    offset: int,
    /,
) -> None: ...
def mask(
    mask: _Mask, n: int, threshold: int, drop_all: bool, seed: int, stream: int, offset: int, /
) -> None: ...
def apply(
    x: np.ndarray,
    y: np.ndarray,
    mask: _OptMask,
    dtype_code: int,
    scale: float,
    apply_scale: bool,
    /,
) -> None: ...
def forward_runs(
    x: np.ndarray,
    y: np.ndarray,
    mask: _OptMask,
    dtype_code: int,
    threshold: int,
    scale: float,
    apply_scale: bool,
    seed: int,
    stream: int,
    starts: NDArray[np.uint64],
    length: int,
    /,
) -> None: ...
def mask_runs(
    mask: _Mask, threshold: int, seed: int, stream: int, starts: NDArray[np.uint64], length: int, /
) -> None: ...
def alpha_apply(
    x: np.ndarray, y: np.ndarray, mask: _OptMask, dtype_code: int, a: float, b: float, c: float, /
) -> None: ...
def apply_noise(
    x: np.ndarray,
    y: np.ndarray,
    mask: _Mask,
    dtype_code: int,
    noise: Sequence[int],
    scale: float,
    apply_scale: bool,
    /,
) -> None: ...
def alpha_noise(
    x: np.ndarray,
    y: np.ndarray,
    mask: _Mask,
    dtype_code: int,
    noise: Sequence[int],
    a: float,
    b: float,
    c: float,
    /,
) -> None: ...
def alpha_forward(
    x: np.ndarray,
    y: np.ndarray,
    mask: _Mask,
    dtype_code: int,
    threshold: int,
    drop_all: bool,
    a: float,
    b: float,
    c: float,
    seed: int,
    stream: int,
    offset: int,
    /,
) -> None: ...
def dropout_any_fast(
    x: object,
    p: object,
    generator: object,
    out: object,
    inplace: object,
    upscale: bool,
    noise_shape: object,
    keep: int,
    /,
) -> Any: ...
def backward_any_fast(
    grad: object, mask: object, p: object, upscale: bool, out: object, noise_shape: object, /
) -> Optional[np.ndarray]: ...
def block_fast(
    x_or_shape: object,
    p: object,
    full_shape: object,
    origin: object,
    seed: object,
    stream: object,
    offset: object,
    upscale: bool,
    with_mask: bool,
    data: bool,
    /,
) -> Union[None, np.ndarray, Tuple[np.ndarray, np.ndarray]]: ...
def redraw_fast(
    grad: object, fields: object, p: object, upscale: bool, alpha: bool, /
) -> Optional[np.ndarray]: ...
def alpha_any_fast(
    x: object,
    p: object,
    generator: object,
    out: object,
    inplace: object,
    noise_shape: object,
    keep: int,
    /,
) -> Union[None, np.ndarray, Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, int, int, int]]: ...
def alpha_backward_fast(
    grad: object, mask: object, p: object, out: object, noise_shape: object, /
) -> Optional[np.ndarray]: ...
def gaussian_fast(
    x: object, p: object, generator: object, out: object, with_key: bool, /
) -> Union[None, np.ndarray, Tuple[np.ndarray, int, int, int]]: ...
def gaussian_backward_fast(
    grad: object, fields: object, p: object, out: object, /
) -> Optional[np.ndarray]: ...
def mask_fast(shape: object, p: object, generator: object, /) -> Optional[np.ndarray]: ...
def gaussian(
    x: np.ndarray,
    y: np.ndarray,
    dtype_code: int,
    sigma: float,
    seed: int,
    stream: int,
    offset: int,
    /,
) -> None: ...
def normal_from_words(words: NDArray[np.uint32], /) -> NDArray[np.float64]: ...
def zoneout(
    prev: np.ndarray,
    new: np.ndarray,
    y: np.ndarray,
    mask: _OptMask,
    dtype_code: int,
    threshold: int,
    drop_all: bool,
    seed: int,
    stream: int,
    offset: int,
    /,
) -> None: ...
def gaussian_add(
    x: np.ndarray,
    y: np.ndarray,
    dtype_code: int,
    stddev: float,
    seed: int,
    stream: int,
    offset: int,
    /,
) -> None: ...
def row_apply(
    x: np.ndarray,
    y: np.ndarray,
    keep: _Mask,
    dtype_code: int,
    rows: int,
    scale: float,
    apply_scale: bool,
    /,
) -> None: ...
def drop_block_mask(
    mask: _Mask,
    planes: int,
    depth: int,
    height: int,
    width: int,
    block: int,
    block_depth: int,
    seed: int,
    stream: int,
    offset: int,
    threshold: int,
    all_seeds: bool,
    /,
) -> int: ...
def dropout_fast(x: object, p: object, generator: object, /) -> Optional[np.ndarray]: ...
def dropout_with_mask_fast(
    x: object, p: object, generator: object, upscale: bool, /
) -> Optional[Tuple[np.ndarray, np.ndarray]]: ...
def backward_fast(
    grad: object, mask: object, p: object, upscale: bool, /
) -> Optional[np.ndarray]: ...
def empty(
    shape: Sequence[int], dtype: np.dtype[Any], like: Optional[np.ndarray] = None
) -> np.ndarray: ...
def _buffer_cached_bytes() -> int: ...
def _buffer_trim() -> None: ...
def copy(x: np.ndarray, y: np.ndarray, /) -> None: ...
def philox4x32(counter: Sequence[int], key: Sequence[int], /) -> List[int]: ...
def simd_level() -> str: ...
def supported_simd_levels() -> List[str]: ...
def _set_simd(name: str, /) -> None: ...
def _avx512fp16() -> str: ...
def _set_avx512fp16(on: bool, /) -> None: ...
def _avx512ifma() -> str: ...
def _set_avx512ifma(on: bool, /) -> None: ...
def kernel_tier() -> str:
    """The kernel tier in use: "scalar", "neon", "avx2", "avx512", "avx512_ifma",
    "avx512_fp16" or "avx512_ifma_fp16" (the last four are the avx512 level's, chosen by
    the IFMA and AVX512-FP16 switches above)."""

def _kernel_tiers() -> List[str]:
    """Every kernel tier this CPU and this build support, in dispatch order."""

def get_num_threads() -> int: ...
def set_num_threads(n: int, /) -> None: ...
def build_info() -> Dict[str, Any]: ...

# permuted layouts: x and y in memory order (C order over the logical shape's axes taken
# in ``order``), the words and the masks over logical C order
def forward_permuted(
    x: np.ndarray,
    y: np.ndarray,
    mask: _OptMask,
    dtype_code: int,
    order: Sequence[int],
    threshold: int,
    drop_all: bool,
    scale: float,
    apply_scale: bool,
    seed: int,
    stream: int,
    offset: int,
    /,
) -> None: ...
def apply_permuted(
    x: np.ndarray,
    y: np.ndarray,
    mask: _OptMask,
    dtype_code: int,
    order: Sequence[int],
    scale: float,
    apply_scale: bool,
    /,
) -> None: ...
def permute_mask(
    mask: _Mask, shape: Sequence[int], order: Sequence[int], /
) -> NDArray[np.uint8]: ...

# functions added to the extension before their stubs are: typed as Any
def __getattr__(name: str) -> Any: ...
