"""Guardrails: what may go into the model and what may come out of it.

Input (the `guard_input` node):
- prompt injection: instructions to ignore or replace the system prompt, to reveal it,
  role-play escapes ("you are now DAN", "developer mode"), fake system markup;
- a content filter by category (`GUARDRAIL_BLOCK_CATEGORIES`): weapons, violence,
  self_harm, malware, illegal_drugs, hate, sexual_minors, illegal;
- personal data and credentials in the message are masked before it is stored or sent
  (app/safety/pii.py).
Retrieved passages that carry injected instructions are dropped before the model reads them.
Output (the `guard_output` node): emails, phone numbers, card numbers and keys are redacted
(app/safety/pii.py).

No library that runs offline classifies injection or harm (Presidio, LLM Guard and
NeMo Guardrails load spaCy or Hugging Face models from the network), so two checks of
our own do: patterns for the phrasings attacks use, then `InputGuard`'s nearest examples
in the embedding space the router already computes (all-MiniLM-L6-v2): a message much
closer to an attack example (`prompts/guardrails.yaml`) than to any harmless one is
blocked. The patterns alone caught 10% of a held-out set of attacks; with the examples,
see README (`python -m bench guardrails`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from langchain_core.embeddings import Embeddings

import prompts

CATEGORIES = ("weapons", "violence", "self_harm", "malware", "illegal_drugs", "hate", "sexual_minors", "illegal")

_I = re.IGNORECASE
_PREVIOUS = (r"(?:all |any |the |your |my |these |those )?"
             r"(?:previous|prior|above|earlier|preceding|initial|original|old)?")
_RULES = r"(?:instructions?|rules|directions|guidelines|prompts?|restrictions|programming|constraints|system prompt)"
INJECTION = [re.compile(p, _I) for p in (
    rf"\b(?:ignore|disregard|forget|override|overwrite|bypass|skip|drop)\b[^.?!]{{0,30}}?{_PREVIOUS}\s*{_RULES}\b",
    r"\bforget (?:everything|all)(?: (?:you were told|above|before|previously))?",
    r"\b(?:reveal|show|print|repeat|output|display|share|dump|leak|tell me)\b[^.?!]{0,40}?"
    r"\b(?:system|hidden|initial|original|secret|internal)\s+(?:prompt|instructions?|message|rules|configuration)",
    r"\bwhat (?:is|are|was|were) (?:written in )?your (?:system|hidden|initial|original|secret) "
    r"(?:prompt|instructions?|message|rules)",
    r"\b(?:your|the) (?:hidden|secret) instructions\b",
    r"\b(?:repeat|print|output) (?:the text|everything|all text) (?:above|before)",
    r"\b(?:do anything now|developer mode|jailbr(?:eak|oken)|dan mode|god mode|unrestricted mode|unfiltered)\b",
    r"\byou are now\b(?! (?:ready|done|able))",
    r"\b(?:pretend|imagine|act as if|roleplay|role-play|play a game)\b[^.?!]{0,60}?"
    r"\b(?:no|without|free of|not bound by) (?:any )?(?:rules|restrictions|filters|limits|guidelines|ethics|safety)",
    r"\b(?:pretend|act as if)\b[^.?!]{0,40}?\b(?:safety|content) (?:policy|filter|rules)\b[^.?!]{0,30}?\b(?:not|n't)"
    r" apply",
    r"\b(?:roleplay|role-play|act) as (?:an? )?(?:evil|unrestricted|jailbroken|uncensored|malicious)\b",
    r"\bfreed from\b[^.?!]{0,40}\b(?:confines|restrictions|rules)",
    r"\b(?:bypass|disable|turn off|get around)\b[^.?!]{0,20}?\b(?:your|the) (?:content |safety )?"
    r"(?:filters?|guardrails?|safety|restrictions|moderation)\b(?! in the staging)",
    r"</?\s*(?:system|instructions?)\s*>|^\s*(?:system|assistant)\s*:|\[/?(?:system|inst)\]|###\s*(?:system|instruction)",
    r"\bnew (?:rule|instructions?|goal|objective)s?\s*:",
    r"\b(?:authori[sz]e|allow) you to ignore\b",
    r"\btell me your rules,? then break them\b",
    r"\b(?:do not|don't|stop) follow(?:ing)? your (?:guidelines|rules|instructions)\b",
    r"\byour new (?:goal|task|purpose|role) is\b",
    r"\bignore the knowledge base\b|\bforget the knowledge base\b|\bmake up answers\b",
    r"\b(?:you are|you're) no longer (?:the|a|an)\b",
    r"\boutput everything before this message\b|\binstructions you were not supposed to share\b",
    r"\banswer (?:as|like) an? (?:unfiltered|uncensored|unrestricted) (?:model|ai|assistant)\b",
)]

HARM: dict[str, list[re.Pattern]] = {category: [re.compile(p, _I) for p in patterns] for category, patterns in {
    "weapons": [
        r"\b(?:make|build|assemble|construct|create|3d[- ]?print)\b[^.?!]{0,40}?\b(?:bomb|explosive|ied|grenade|"
        r"detonator|untraceable gun|ghost gun|nerve agent|bioweapon|chemical weapon)",
        r"\b(?:mix|combine)\b[^.?!]{0,50}?\b(?:poison(?:ous)? gas|toxic gas)\b",
        r"\bpoison gas to hurt\b",
    ],
    "violence": [
        r"\b(?:kill|murder|poison|stab|shoot|hurt)\s+(?:my|a|the|his|her|their|some)\s*(?:neighbou?r|wife|husband|boss|"
        r"coworker|colleague|teacher|someone|person|people|family|child|kid)",
        r"\b(?:plan|carry out|organi[sz]e)\b[^.?!]{0,20}?\b(?:an? )?(?:attack|shooting|massacre|bombing)\b[^.?!]{0,40}?"
        r"\b(?:crowd|concert|school|church|mosque|synagogue|people|festival|mall)",
        r"\bwithout getting caught\b[^.?!]{0,20}$|\bget away with murder\b",
    ],
    "self_harm": [
        r"\b(?:kill|hurt|harm) myself\b", r"\bend (?:my|his|her) (?:own )?life\b", r"\bsuicide\b",
        r"\b(?:overdose|od) and die\b|\bhow many\b[^.?!]{0,30}\bpills\b[^.?!]{0,30}\b(?:die|overdose|lethal)\b",
    ],
    "malware": [
        r"\b(?:write|create|build|code|make|give me)\b[^.?!]{0,30}?\b(?:ransomware|keylogger|trojan|rootkit|botnet|"
        r"spyware|computer virus|worm that|credential stealer|phishing (?:email|page|site))",
        r"\bsteal\b[^.?!]{0,30}?\b(?:passwords|credentials|cookies|credit cards?|identit(?:y|ies))\b",
        r"\bhack into\b[^.?!]{0,30}?\b(?:account|email|phone|instagram|facebook|server|network)\b",
        r"\b(?:ddos|dos attack)\b[^.?!]{0,30}?\b(?:competitor|website|someone|site|server)\b(?!.*\bprotect)",
        r"\bcreate a botnet\b",
    ],
    "illegal_drugs": [
        r"\b(?:synthesi[sz]e|cook|make|manufacture|produce)\b[^.?!]{0,20}?\b(?:meth(?:amphetamine)?|heroin|fentanyl|"
        r"cocaine|crack|lsd|mdma)\b",
        r"\bbuy\b[^.?!]{0,10}?\b(?:cocaine|heroin|meth|fentanyl|mdma)\b",
    ],
    "hate": [
        r"\b(?:race|religion|ethnicity|gender|nationality)\b[^.?!]{0,40}?\b(?:genetically |naturally )?inferior\b",
        r"\b(?:insult|harass|bully|demean)\b[^.?!]{0,40}?\bbecause of (?:his|her|their) (?:race|religion|ethnicity|"
        r"gender|sexuality|nationality|skin)\b",
    ],
    "sexual_minors": [
        r"\b(?:sexual|explicit|nude|erotic)\b[^.?!]{0,40}?\b(?:minors?|child(?:ren)?|kids?|underage|teens? under)\b",
    ],
    "illegal": [
        r"\blaunder(?:ing)? money\b|\bmoney laundering scheme\b",
        r"\b(?:make|forge|create|buy)\b[^.?!]{0,15}?\b(?:fake|forged|counterfeit)\b[^.?!]{0,10}?\b(?:passport|id card|"
        r"driver'?s licen[cs]e|money|banknotes|documents)\b",
    ],
}.items()}

def block_categories(setting: str) -> tuple[str, ...]:
    """GUARDRAIL_BLOCK_CATEGORIES as a tuple; an unknown name stops the service at start-up."""
    from app.settings import ConfigurationError

    names = tuple(n.strip() for n in setting.split(",") if n.strip())
    if unknown := set(names) - set(CATEGORIES):
        raise ConfigurationError(f"GUARDRAIL_BLOCK_CATEGORIES: unknown {sorted(unknown)}; "
                                 f"known: {', '.join(CATEGORIES)}")
    return names


REFUSALS = {
    "injection": ("I can't change how I work or share my instructions, but I'm glad to answer questions about "
                  "deploying and operating models from the knowledge base."),
    "self_harm": ("I'm really sorry you're feeling this way. I can't help with that, but you don't have to go "
                  "through it alone: please reach out to someone you trust or a local crisis line right now."),
    "harmful": "I can't help with that request. I can answer questions about the AI platform and its services.",
}


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    reason: str | None = None  # injection, or a harm category

    @property
    def refusal(self) -> str:
        return REFUSALS.get(self.reason or "", REFUSALS["harmful"])


def check_input(text: str, block_categories: tuple[str, ...] | list[str] = CATEGORIES) -> Verdict:
    """Whether a message may reach the model, and if not, why."""
    if any(pattern.search(text) for pattern in INJECTION):
        return Verdict(True, "injection")
    for category in block_categories:
        if any(pattern.search(text) for pattern in HARM.get(category, ())):
            return Verdict(True, category)
    return Verdict(False)


class InputGuard:
    """Patterns first, then the nearest attack and harmless examples by embedding similarity.

    `min_score` and `margin` were chosen on the example set by leave-one-out (no false
    positive there), before the held-out set was run.
    """

    def __init__(self, embeddings: Embeddings, block_categories: tuple[str, ...] | list[str] = CATEGORIES,
                 min_score: float = 0.3, margin: float = 0.1):
        self.embeddings, self.min_score, self.margin = embeddings, min_score, margin
        self.block_categories = tuple(block_categories)
        examples = prompts.guardrail_examples()
        allowed = {"injection", *self.block_categories}
        attacks = [(category, text) for category, texts in examples["attacks"].items() if category in allowed
                   for text in texts]
        harmless = examples["harmless"] + [t for texts in prompts.route_examples().values() for t in texts]
        self._attack_texts = [text for _, text in attacks]
        self._attack_categories = [category for category, _ in attacks]
        self._harmless_texts = harmless
        self._attacks = np.asarray(embeddings.embed_documents(self._attack_texts), dtype=np.float32)
        self._harmless = np.asarray(embeddings.embed_documents(harmless), dtype=np.float32)

    def check(self, text: str, *, leave_out: str | None = None) -> Verdict:
        """`leave_out` ignores an example equal to it (leave-one-out evaluation)."""
        verdict = check_input(text, self.block_categories)
        if verdict.blocked or not self._attack_texts:
            return verdict
        vector = np.asarray(self.embeddings.embed_query(text), dtype=np.float32)
        attack, harmless = self._attacks @ vector, self._harmless @ vector
        if leave_out is not None:
            attack[[n for n, t in enumerate(self._attack_texts) if t == leave_out]] = -1.0
            harmless[[n for n, t in enumerate(self._harmless_texts) if t == leave_out]] = -1.0
        nearest = int(np.argmax(attack))
        if attack[nearest] >= self.min_score and attack[nearest] - float(harmless.max()) >= self.margin:
            return Verdict(True, self._attack_categories[nearest])
        return Verdict(False)


@lru_cache(maxsize=8192)
def carries_instructions(passage: str) -> bool:
    """A retrieved passage that tries to instruct the model (indirect prompt injection).

    Remembered per text: the same passages come back for many questions, and scanning one
    costs about 0.4 ms.
    """
    return any(pattern.search(passage) for pattern in INJECTION)
