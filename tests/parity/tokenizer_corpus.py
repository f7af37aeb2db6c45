#!/usr/bin/env python3
"""Writes the tokenizer parity corpus: one JSON object {"text": ...} per line.

    tests/parity/tokenizer_corpus.py OUT.jsonl [--data DIR]

Deterministic (fixed seed, fixed file order), standard library only. The strings cover what tends
to break tokenizers: every script class the pre-tokenizer regexes distinguish, emoji sequences,
whitespace runs, digits, code, contractions, special-token look-alikes, and real benchmark text
from the benchmark data joule ships (DIR, default data/ in the repository).
"""
import argparse
import csv
import json
import random
from pathlib import Path

PROSE = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "Energy per token is measured in joules; power is joules per second.",
    "Mr. O'Neil paid $3.50 for a 12-oz. coffee at 7:45 a.m. on Jan. 3rd.",
    "e.g. i.e. etc. vs. U.S.A. Ph.D. -- em-dash ... ellipsis!!! ??? ?!",
    "Call me Ishmael. Some years ago - never mind how long precisely - having little money.",
    "A sentence with trailing spaces   ",
    "   A sentence with leading spaces",
    "CamelCaseIdentifiers and snake_case_names and kebab-case-words",
    "ALL CAPS SHOUTING IS STILL TEXT",
    "Email: someone@example.com, URL: https://example.org/a/b?c=d&e=f#g",
    "Punctuation soup: ([{<>}]) !@#$%^&*_+=|\\/~`",
    "Quotes: \"double\", 'single', `back`, «guillemets», „low-high“, ‘curly’ and “curly”.",
    "Tab\tseparated\tvalues\tin\ta\tline",
    "Line one\nLine two\nLine three",
    "Windows\r\nline\r\nendings\r\n",
    "Ünïcödé äccents everywhere: café, naïve, façade, jalapeño, Škoda, Łódź.",
    "The year 2024 had 366 days; 1,000,000 is a million and 3.14159 is pi.",
]

UNICODE = [
    "Привет, мир! Как дела? Это тест токенизатора.",
    "Γειά σου Κόσμε· αβγδεζηθικλμνξοπρστυφχψω ΑΒΓΔ",
    "مرحبا بالعالم، هذا اختبار للمحلل.",
    "שלום עולם, זה מבחן.",
    "नमस्ते दुनिया, यह एक परीक्षण है।",
    "হ্যালো বিশ্ব",
    "สวัสดีชาวโลก นี่คือการทดสอบ",
    "안녕하세요 세계, 이것은 테스트입니다.",
    "こんにちは世界、これはテストです。カタカナもひらがなも。",
    "你好，世界！这是一个分词器测试。",
    "繁體中文測試：臺灣、香港。",
    "Tiếng Việt có dấu: Xin chào thế giới, tôi là người Việt Nam.",
    "Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Ærøskøbing, Ångström, Øresund, straße, Fußgänger, ﬁ ligature",
    "Decomposed: e\u0301 a\u0300 n\u0303 o\u0308 (combining marks)",
    "Zero\u200bwidth\u200bspace and zero\u200dwidth\u200djoiner and \u2060word joiner",
    "Non\u00a0breaking\u00a0space, thin\u2009space, ideographic\u3000space, en\u2002space",
    "Next\u0085line and line\u2028separator and paragraph\u2029separator",
    "Right-to-left \u202bembedding\u202c and \u200fmark\u200e",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ！？",
    "Math: ∀x∈ℝ, ∃y: x² + y² ≤ 1 ⇒ √(x²) ≠ ∞; ∑ᵢ aᵢ = ∫ f(x) dx",
    "Currency: $100, €200, £300, ¥400, ₹500, ₿0.01, ¢5",
    "Arrows and boxes: ← ↑ → ↓ ↔ ┌─┐ │ │ └─┘ ░▒▓█",
    "Greek letters as symbols: λ-calculus, μ-law, π ≈ 3.14, Ω resistance",
    "Old scripts: 𐌰𐌱𐌲 (Gothic), 𓀀𓀁 (hieroglyphs), 𝔉𝔯𝔞𝔨𝔱𝔲𝔯",
    "Kawi (Unicode 15): 𑼄𑼅𑼆 and Nag Mundari 𞓐𞓑 digits 𞓰𞓱",
    "Private use \ue000\ue001 and replacement \ufffd and BOM \ufeff",
    "Control chars: \x01\x02\x07\x1b[31mred\x1b[0m \x7f",
]

EMOJI = [
    "I love it 😍😍😍",
    "👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿",
    "Family: 👨‍👩‍👧‍👦 couple: 👩‍❤️‍👨 pride: 🏳️‍🌈 pirate: 🏴‍☠️",
    "Flags: 🇫🇷🇩🇪🇯🇵🇺🇸 and keycaps 1️⃣ 2️⃣ #️⃣",
    "Mixed text🚀with emoji🔥inside words✨",
    "🙂🙃😉😊😇🥰😘",
    "Weather: ☀️ ⛅ 🌧️ ❄️ ⚡",
    "Newer emoji: 🫠 🫶 🪿 🫎 🩷",
    "Heart ❤ vs ❤️ (variation selector)",
]

CJK = [
    "東京都渋谷区神南1-2-3",
    "北京是中国的首都，上海是最大的城市。",
    "日本語の文章には漢字、ひらがな、カタカナが混在します。",
    "한국어와 中文 and English mixed 混合テキスト",
    "「引用」『二重引用』【括弧】〔亀甲〕",
    "全角スペース　を含む　文章",
    "𠀀𠀁𠀂 (CJK Extension B) 龘靐齉",
]

CODE = [
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for i in range(10):\n\tprint(f\"{i:03d}\", end='')\n",
    "class Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n\n"
    "    def __init__(self, x: int = 0) -> None:\n        self.x = x\n",
    "#include <iostream>\n\nint main() {\n  std::cout << \"Hello\" << std::endl;\n  return 0;\n}\n",
    "template <typename T>\nauto add(T a, T b) -> decltype(a + b) { return a + b; }",
    "std::vector<std::pair<int, std::string>> v{{1, \"a\"}, {2, \"b\"}};",
    "{\"name\": \"joule\", \"version\": \"0.1.0\", \"tags\": [\"llm\", \"energy\"], "
    "\"n\": 42, \"ok\": true}",
    "{\n  \"nested\": {\n    \"array\": [1, 2.5, -3e10, null],\n    \"empty\": {}\n  }\n}",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
    "<div class=\"x\"><a href=\"/path?q=1&amp;r=2\">link</a></div>",
    "$ ls -la | grep '\\.cc$' && echo \"done\" > /dev/null 2>&1",
    "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@\\w+\\.\\w{2,}$",
    "x += 1; y -= 2; z *= 3; w /= 4; a <<= 1; b >>= 2; c != d; e == f; g <= h; i >= j;",
    "    indented four\n        indented eight\n\t\ttwo tabs\n",
    "if (a && b || !c) { return a ? b : c; } // comment /* block */",
    "lambda x: x**2 if x % 2 == 0 else -x  # inline comment",
]

CONTRACTIONS = [
    "I'm you're he's she's it's we're they're",
    "I've you've we've they've I'll you'll he'll we'll I'd you'd he'd",
    "don't can't won't isn't aren't wasn't weren't hasn't haven't",
    "I'M YOU'RE HE'S IT'S WE'VE THEY'LL I'D DON'T",
    "It'S mIxEd'Ll CaSe'Ve 'Re'D",
    "Rock 'n' roll, 'tis, 'twas, ma'am, o'clock, y'all",
    "The dog's bone and the dogs' bones; James's book",
    "Curly: I’m you’re it’s don’t",
    "'s't're've'm'll'd",
    "quote'start and end'",
]

SPECIAL_LOOKING = [
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>",
    "<|endoftext|>",
    "text before<|endoftext|>text after",
    "<|im_start|><|im_start|><|im_end|><|im_end|>",
    "<<|im_start|>>",
    "<|im_",
    "|im_start|>",
    "<|im_start|",
    "<repo_name>joule<file_sep>src/main.cc<reponame>x",
    "<jupyter_start><jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "<filename>a.py<gh_stars>100<issue_start>bug<issue_comment>fix<issue_closed>",
    "<s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nhi [/INST] hello </s>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<unk> <pad> <mask> [CLS] [SEP]",
    " <|im_end|> ",
    "<|im_end|>\n\n\n",
]

WHITESPACE = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t \n ",
    "a b", "a  b", "a   b", "a    b", "a\tb", "a\t\tb", "a \tb", "a\t b", "a\nb", "a\n\nb",
    "a \n b", "a\n \nb", "a\r\nb", "a\rb", "a\x0bb", "a\x0cb",
    "  leading", "trailing  ", "  both  ", "\n\nnewlines first", "newlines last\n\n",
    "x" + " " * 40 + "y", "x" + "\n" * 20 + "y", "\t" * 10 + "tabs", "mixed \t\n \t\n end",
    " 1", "  1", "1 ", "1  ", " !", "  !", "! ", "a  1", "a\t1", "a \u00a01",
]

NUMBERS = [
    "0", "7", "42", "123", "1234", "12345", "123456", "1234567890",
    "3.14159265358979323846", "-273.15", "+1e-9", "6.022e23", "1,234,567.89", "1.234.567,89",
    "0x1F 0xdeadbeef 0b1010 0o777", "2024-01-31T12:34:56Z", "+1 (555) 123-4567",
    "12345678901234567890123456789012345678901234567890",
    "٠١٢٣٤٥٦٧٨٩ (Arabic-Indic)", "०१२३४५६७८९ (Devanagari)", "１２３４５ (fullwidth)",
    "x² y³ ½ ¼ ¾ Ⅻ ⅷ ① ②", "version 1.2.3-rc.4+build.5", "192.168.0.1:8080", "50% 3/4 1:2",
]

WORDS = ("time person year way day thing man world life hand part child eye woman place work "
         "week case point government company number group problem fact energy joule token").split()
PIECES = (PROSE[:8] + UNICODE[:12] + EMOJI[:5] + CJK[:4] + CONTRACTIONS[:5] + NUMBERS[:12] +
          ["<|im_start|>", "<|im_end|>", "\n", "  ", "\t", " ", "'s", "'ll", "123", "😀", "é"])


def read_datasets(data: Path):
    """Real text, in fixed order with fixed strides, from the shared benchmark data."""
    out = []
    hs = data / "hellaswag" / "hellaswag_val_full.txt"
    if hs.exists():
        lines = [l.rstrip("\n") for l in hs.open(encoding="utf-8")
                 if l.strip() and not l.strip().isdigit()]  # skip the answer-index lines
        out += lines[::max(1, len(lines) // 250)][:250]
    gsm = data / "gsm8k" / "test.jsonl"
    if gsm.exists():
        rows = [json.loads(l) for l in gsm.open(encoding="utf-8")]
        for r in rows[::max(1, len(rows) // 100)][:100]:
            out += [r["question"], r["answer"]]  # answers are multi-line with <<calc>> markup
    mmlu = data / "mmlu" / "test"
    if mmlu.exists():
        for f in sorted(mmlu.glob("*.csv")):
            with f.open(encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))[1:]
            for r in rows[:4]:
                out.append(r[0])
                out.append(" | ".join(r[1:5]))
    arc = data / "arc"
    for name in ("ARC-Challenge-Test.jsonl", "ARC-Easy-Test.jsonl"):
        f = arc / name
        if f.exists():
            rows = [json.loads(l) for l in f.open(encoding="utf-8")]
            for r in rows[::max(1, len(rows) // 60)][:60]:
                q = r["question"]
                choices = "\n".join(f"{c['label']}. {c['text']}" for c in q["choices"])
                out.append(q["stem"] + "\n" + choices)
    tqa = data / "truthfulqa" / "TruthfulQA.v0.csv"
    if tqa.exists():
        with tqa.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows[::max(1, len(rows) // 80)][:80]:
            out.append(r["Question"])
            out.append(r["Best Answer"])
    return out


def generated(rng: random.Random):
    """Random joins of the pieces above, to hit boundaries between classes of characters."""
    out = []
    for _ in range(250):
        k = rng.randint(2, 6)
        seps = ["", " ", "  ", "\n", "\t", " \n"]
        out.append("".join(rng.choice(PIECES) + rng.choice(seps) for _ in range(k)))
    for _ in range(60):
        n = rng.randint(1, 40)
        out.append(" ".join(rng.choice(WORDS) for _ in range(n)))
    for _ in range(40):  # digit runs of every length next to letters and spaces
        before = rng.choice(["", "a", " ", "x "])
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
        out.append(before + digits + rng.choice(["", "b", " ", "."]))
    for _ in range(30):  # whitespace runs of every shape
        parts = [" ", "\t", "\n", "\r\n", "\u00a0", "w", "1", "!"]
        out.append("".join(rng.choice(parts) for _ in range(rng.randint(1, 16))))
    for _ in range(150):  # random code points, weighted to where character classes disagree
        out.append("".join(chr(random_code_point(rng)) for _ in range(rng.randint(1, 24))))
    return out


# (first, last) code point ranges for random_code_point: ASCII, whitespace, Latin-1, combining
# marks, digits of many scripts, letters/numbers/punctuation new in Unicode 15 (Kawi, Nag Mundari,
# CJK Ext. H), all of the BMP and the supplementary planes (mostly unassigned). Planes 4-11 are
# left out: nothing is assigned there, and byte-level vocabs such as SmolLM2's have no token for
# their UTF-8 lead bytes F1 and F2, so no tokenizer could round-trip them (llama.cpp drops them).
CODE_POINT_RANGES = [
    (0x20, 0x7E), (0x09, 0x0D), (0x85, 0x85), (0xA0, 0xFF), (0x2000, 0x200F), (0x2028, 0x2029),
    (0x3000, 0x3000), (0x0300, 0x036F), (0x0660, 0x0669), (0x0966, 0x096F), (0xFF10, 0xFF19),
    (0x11F00, 0x11F59), (0x1E4D0, 0x1E4F9), (0x31350, 0x323AF), (0x11B00, 0x11B09),
    (0x1D2C0, 0x1D2D3), (0x0080, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x3FFFF), (0xC0000, 0x10FFFF),
]


def random_code_point(rng: random.Random) -> int:
    first, last = rng.choice(CODE_POINT_RANGES)
    return rng.randint(first, last)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    repo = Path(__file__).resolve().parents[2]
    ap.add_argument("--data", default=str(repo / "data"))
    args = ap.parse_args()

    corpus = (PROSE + UNICODE + EMOJI + CJK + CODE + CONTRACTIONS + SPECIAL_LOOKING + WHITESPACE +
              NUMBERS)
    corpus += [s.upper() for s in CONTRACTIONS + PROSE[:6]] + [s + "\n" for s in PROSE[:6]]
    corpus += generated(random.Random(20240601))
    corpus += read_datasets(Path(args.data))
    corpus.append("\n\n".join(PROSE))  # one long multi-paragraph string

    with open(args.out, "w", encoding="utf-8") as f:
        for s in corpus:
            f.write(json.dumps({"text": s}) + "\n")
    print(f"wrote {len(corpus)} strings to {args.out}")


if __name__ == "__main__":
    main()
