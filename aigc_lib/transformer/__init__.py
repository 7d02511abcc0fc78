"""Attention and the Transformer: the code of chapter 2 (attention) and chapter 3 (the Transformer).

Attention with masks and a KV cache, positional encodings (sinusoidal, learned,
rotary), the linear layer, Transformer blocks with an encoder and a decoder, the
encoder–decoder model with its task, the date-translation data of chapter 3,
greedy and beam-search decoding, and corpus BLEU.
"""
from .linear import MAX_SPLIT_ROWS, MIN_SPLIT_BYTES, row_split_linear, Linear
from .positional import (sinusoidal_table, SinusoidalPositionalEncoding, LearnedPositionalEmbedding, rotate_pairs,
                         RotaryEmbedding)
from .attention import (causal_mask, padding_mask, scaled_dot_product_attention, fast_scaled_dot_product_attention,
                        KVCache, MultiHeadAttention)
from .blocks import (ACTIVATIONS, BlockConfig, FeedForward, TransformerBlock, TransformerEncoder, TransformerDecoder,
                     check_token_ids)
from .seq2seq import Seq2SeqConfig, Seq2SeqTransformer, trim_padding, Seq2SeqTask
from .dates import (MONTHS, WEEKDAYS, FIRST_DAY, LAST_DAY, N_FORMATS, format_date, random_date_pairs, split_dates,
                    CharVocab, date_vocab, encode_pairs, DateData, MAX_SRC_LEN, MAX_TGT_LEN, load_dates)
from .beam_search import NextLogProbs, length_penalty, Hypothesis, greedy_decode, beam_search
from .bleu import Tokens, ngrams, corpus_bleu_stats, bleu_from_stats, corpus_bleu

__all__ = [
    "MAX_SPLIT_ROWS", "MIN_SPLIT_BYTES", "row_split_linear", "Linear", "sinusoidal_table",
    "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding", "rotate_pairs", "RotaryEmbedding", "causal_mask",
    "padding_mask", "scaled_dot_product_attention", "fast_scaled_dot_product_attention", "KVCache",
    "MultiHeadAttention", "ACTIVATIONS", "BlockConfig", "FeedForward", "TransformerBlock", "TransformerEncoder",
    "TransformerDecoder", "check_token_ids", "Seq2SeqConfig", "Seq2SeqTransformer", "trim_padding", "Seq2SeqTask",
    "MONTHS", "WEEKDAYS", "FIRST_DAY", "LAST_DAY", "N_FORMATS", "format_date", "random_date_pairs", "split_dates",
    "CharVocab", "date_vocab", "encode_pairs", "DateData", "MAX_SRC_LEN", "MAX_TGT_LEN", "load_dates", "NextLogProbs",
    "length_penalty", "Hypothesis", "greedy_decode", "beam_search", "Tokens", "ngrams", "corpus_bleu_stats",
    "bleu_from_stats", "corpus_bleu",
]
