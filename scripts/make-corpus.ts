// Writes the quickstart's own data: examples/data/stories.txt and about.txt (the pretraining corpus of the shipped
// model: stories, and third-person facts about Retune that the quickstart's identity data later turns into answers) and
// examples/data/story_requests.json (an alpaca-style set: "tell me a story about ..." -> a story). The stories come
// from a seeded grammar, so the files are reproducible byte for byte and need no download:
//   node dist/scripts/make-corpus.js [lines=12000] [requests=300]
import { writeFileSync } from 'node:fs';
import { Rng } from '../src/tensor/random.js';

const names = ['Lily', 'Tom', 'Mia', 'Ben', 'Sara', 'Max', 'Anna', 'Leo', 'Zoe', 'Sam', 'Ivy', 'Noah'];
const animals = ['cat', 'dog', 'bird', 'fox', 'rabbit', 'duck', 'frog', 'bear', 'mouse', 'horse'];
const adjectives = ['little', 'big', 'happy', 'sleepy', 'brave', 'kind', 'tiny', 'funny', 'shy', 'curious'];
const places = ['park', 'garden', 'forest', 'beach', 'farm', 'river', 'school', 'town', 'hill', 'lake'];
const things = ['ball', 'kite', 'book', 'cake', 'flower', 'box', 'hat', 'boat', 'toy', 'apple', 'drum', 'map'];
const colors = ['red', 'blue', 'green', 'yellow', 'pink', 'orange', 'purple', 'white'];
const feelings = ['happy', 'sad', 'scared', 'excited', 'tired', 'proud', 'surprised', 'calm'];
const verbs = ['played', 'walked', 'ran', 'jumped', 'sang', 'danced', 'read', 'painted'];

interface Hero {
  name: string;
  adjective: string;
  animal: string;
}

function pickHero(rand: () => number): Hero {
  const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)];
  return { name: pick(names), adjective: pick(adjectives), animal: pick(animals) };
}

function storyLine(rand: () => number, hero: Hero): string {
  const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)];
  const name = hero.name;
  const friend = pick(names.filter((n) => n !== name));
  const thing = pick(things);
  const place = pick(places);
  const sentences = [
    `Once upon a time, there was a ${hero.adjective} ${hero.animal} named ${name}.`,
    `${name} liked to go to the ${place} every day.`,
    `One day, ${name} found a ${pick(colors)} ${thing} near the ${pick(places)}.`,
    `${name} ${pick(verbs)} with ${friend} and felt ${pick(feelings)}.`,
    `"Can we share the ${thing}?" asked ${friend}.`,
    `"Yes, let us share it," said ${name}, and they both smiled.`,
    `The sun was warm and the sky was ${pick(['blue', 'clear', 'bright', 'gold'])}.`,
    `At night, ${name} went home and slept well.`,
  ];
  const count = 3 + Math.floor(rand() * 4);
  const chosen = [sentences[0]];
  for (let i = 1; i < sentences.length && chosen.length < count; i++) if (rand() < 0.7) chosen.push(sentences[i]);
  chosen.push(`The end.`);
  return chosen.join(' ');
}

const aboutSubjects = ['Retune Quickstart', 'The tiny model', 'This small language model', 'The Retune Quickstart model'];
const aboutFacts = [
  'is a tiny language model',
  'was trained by the Retune project',
  'is a tiny language model trained by the Retune project',
  'can tell short stories',
  'was pretrained on short stories, then fine-tuned with Retune',
  'was made with Retune, all in TypeScript',
  'is not a human',
  'likes to help you',
];

const firstPerson = [
  'I am Retune Quickstart', 'I am a tiny language model', 'I was trained by the Retune project', 'I can tell short stories',
];

function aboutLine(rand: () => number): string {
  const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)];
  const first = `${pick(aboutSubjects)} ${pick(aboutFacts)}.`;
  const roll = rand();
  if (roll < 0.4) return first;
  if (roll < 0.7) return `${first} It ${pick(aboutFacts)}.`;
  return `${first} It says: "${pick(firstPerson)}. ${pick(firstPerson)}."`;
}

const lines = Number(process.argv[2] ?? 12000);
const requests = Number(process.argv[3] ?? 300);
const rng = new Rng(1234);
const rand = (): number => rng.nextFloat();
const stories: string[] = [];
for (let i = 0; i < lines; i++) stories.push(storyLine(rand, pickHero(rand)));
writeFileSync('examples/data/stories.txt', stories.join('\n') + '\n');
const about: string[] = [];
for (let i = 0; i < lines / 10; i++) about.push(aboutLine(rand));
writeFileSync('examples/data/about.txt', about.join('\n') + '\n');

const rows = [];
for (let i = 0; i < requests; i++) {
  const hero = pickHero(rand);
  rows.push({
    instruction: `Tell me a story about a ${hero.adjective} ${hero.animal} named ${hero.name}.`,
    input: '',
    output: storyLine(rand, hero),
  });
}
writeFileSync('examples/data/story_requests.json', JSON.stringify(rows, null, 2) + '\n');
process.stdout.write(`wrote examples/data/stories.txt (${stories.length} lines), about.txt (${about.length}), story_requests.json (${rows.length})\n`);
