// The one translation unit that builds the shared precompiled <torch/torch.h>
// (src/CMakeLists.txt, irisml_use_torch_pch); it has no code of its own.
