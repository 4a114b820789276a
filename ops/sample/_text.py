"""Vocabulary of the sample-data generator: exams, topics, and pools of realistic text.

Pools are built once per seed from templates, so every row draws from a few hundred
pre-rendered snippets instead of serialising JSON per row: JSON as UTF-8 bytes, ready to be
joined into arrays, and texts and jsonb values as complete binary COPY fields.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from ops.sample.copy_binary import jsonb_field, text_field

EXAMS: dict[str, tuple[str, ...]] = {
    "JEE Main": (
        "Kinematics",
        "Laws of Motion",
        "Work, Energy and Power",
        "Rotational Motion",
        "Thermodynamics",
        "Electrostatics",
        "Current Electricity",
        "Ray Optics",
        "Chemical Bonding",
        "Chemical Equilibrium",
        "Coordination Compounds",
        "Limits and Continuity",
        "Integral Calculus",
        "Matrices and Determinants",
        "Probability",
        "Complex Numbers",
        "Conic Sections",
    ),
    "NEET": (
        "Cell Structure and Function",
        "Human Physiology",
        "Genetics and Evolution",
        "Plant Physiology",
        "Ecology and Environment",
        "Biomolecules",
        "Human Reproduction",
        "Biotechnology",
        "Animal Kingdom",
        "Chemical Kinetics",
        "Modern Physics",
    ),
    "UPSC CSE": (
        "Indian Polity",
        "Modern Indian History",
        "Indian Economy",
        "Physical Geography",
        "Environment and Ecology",
        "Ethics and Integrity",
        "International Relations",
        "Science and Technology",
        "Art and Culture",
        "Internal Security",
    ),
    "GATE CSE": (
        "Data Structures",
        "Algorithms",
        "Operating Systems",
        "Computer Networks",
        "Database Management Systems",
        "Theory of Computation",
        "Compiler Design",
        "Digital Logic",
        "Computer Organization",
        "Discrete Mathematics",
    ),
    "GRE": (
        "Text Completion",
        "Sentence Equivalence",
        "Reading Comprehension",
        "Quantitative Comparison",
        "Data Interpretation",
        "Coordinate Geometry",
        "Analytical Writing",
    ),
    "SAT": (
        "Linear Equations",
        "Quadratic Functions",
        "Ratios and Percentages",
        "Evidence-Based Reading",
        "Grammar and Usage",
        "Statistics Basics",
        "Geometry and Trigonometry",
    ),
}

CONCEPTS = (
    "the conservation law",
    "the limiting case",
    "the boundary condition",
    "the sign convention",
    "the rate-determining step",
    "the base case",
    "the invariant",
    "the dominant term",
    "the reference frame",
    "the equilibrium constant",
    "the constitutional provision",
    "the time complexity",
    "the normal form",
    "the inverse relation",
    "the unit conversion",
    "the null hypothesis",
    "the causal link",
    "the primary source",
    "the marginal effect",
)
VERBS = (
    "applies",
    "fails",
    "changes sign",
    "dominates",
    "is conserved",
    "becomes undefined",
    "doubles",
    "is independent of the path",
    "depends on the initial state",
    "reverses",
)
SENTENCES = (
    "Start from the definition and write down what is given before choosing a formula.",
    "Notice that the question asks for the change, not the final value.",
    "A quick dimensional check rules out two of the four options immediately.",
    "The common trap here is to apply the rule outside the range where it holds.",
    "Draw a diagram first; the relation between the quantities becomes much clearer.",
    "Compare this with the example we solved earlier: only the boundary condition changed.",
    "Write the intermediate result explicitly so you can verify each step.",
    "When two effects compete, estimate the size of each before deciding which dominates.",
    "This result is worth memorising because it appears in many past papers.",
    "Re-read the question: the word 'not' changes which option is correct.",
    "Try a small concrete case to check whether the general statement makes sense.",
    "The textbook derivation assumes ideal conditions, which the question relaxes.",
)
QUESTIONS_FROM_USER = (
    "Can you explain this step again more slowly?",
    "Why does the sign change here?",
    "Is there a shortcut for questions like this in the exam?",
    "I got a different answer, where did I go wrong?",
    "How is this different from the previous topic?",
    "Can you give me another example?",
    "What should I memorise for this topic?",
    "Why is option B wrong?",
)
ACTIONS = ("generate_plan", "start_topic", "take_quiz", "submit_answers", "next_topic", "complete")


@dataclass(frozen=True)
class Pools:
    """Pre-rendered snippets: JSON objects (UTF-8), and whole binary COPY fields (`*_fields`)."""

    questions: tuple[bytes, ...]
    user_messages: tuple[bytes, ...]
    assistant_messages: tuple[bytes, ...]
    explanation_fields: tuple[bytes, ...]
    misconception_fields: tuple[bytes, ...]
    plan_topics: tuple[str, ...]
    history_fields: dict[str, tuple[bytes, ...]]  # jsonb elements of agent_history, per action


def _paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(sentences))


def build_pools(rng: random.Random, size: int = 256) -> Pools:
    all_topics = [t for topics in EXAMS.values() for t in topics]
    questions = []
    for n in range(size):
        topic = rng.choice(all_topics)
        concept = rng.choice(CONCEPTS)
        options = [f"{rng.choice(CONCEPTS).capitalize()} {rng.choice(VERBS)}" for _ in range(4)]
        questions.append(
            json.dumps(
                {
                    "id": n + 1,
                    "question": f"In {topic}, which statement about {concept} is correct when it "
                    f"{rng.choice(VERBS)}?",
                    "options": options,
                    "correct_answer": rng.randrange(4),
                    "explanation": _paragraph(rng, 1),
                    "difficulty": rng.choice(("easy", "medium", "hard")),
                }
            )
        )
    user_messages = [
        json.dumps({"role": "user", "content": rng.choice(QUESTIONS_FROM_USER)}) for _ in range(size // 4)
    ]
    assistant_messages = [
        json.dumps({"role": "assistant", "content": _paragraph(rng, rng.randint(2, 5))}) for _ in range(size)
    ]
    misconceptions = [
        f"Confuses {rng.choice(CONCEPTS)} with {rng.choice(CONCEPTS)}: assumes it {rng.choice(VERBS)} "
        f"whenever {rng.choice(CONCEPTS)} {rng.choice(VERBS)}."
        for _ in range(size)
    ]
    history: dict[str, tuple[bytes, ...]] = {}
    for action in ACTIONS:
        history[action] = tuple(
            jsonb_field(json.dumps({"action": action, "details": {"note": rng.choice(SENTENCES)}}).encode())
            for _ in range(8)
        )
    return Pools(
        questions=tuple(q.encode() for q in questions),
        user_messages=tuple(m.encode() for m in user_messages),
        assistant_messages=tuple(m.encode() for m in assistant_messages),
        explanation_fields=tuple(text_field(_paragraph(rng, rng.randint(4, 8))) for _ in range(size)),
        misconception_fields=tuple(text_field(m) for m in misconceptions),
        plan_topics=tuple(all_topics),
        history_fields=history,
    )
