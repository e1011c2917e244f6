// XML parsing shared by the JUnit and Cobertura readers (fast-xml-parser, never by hand).
import { XMLParser, XMLValidator } from 'fast-xml-parser';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Every element becomes an array of its occurrences, so walking the tree is uniform.
  isArray: (_name, _jpath, _isLeaf, isAttribute) => !isAttribute,
  parseTagValue: false,
  parseAttributeValue: false,
  removeNSPrefix: true,
  // Counts never need entity-expanded text: no entity expansion at all.
  processEntities: false,
  // Captured output can be large and is never read: keep it as raw text.
  stopNodes: ['*.system-out', '*.system-err'],
});

/** Parses XML text into a tree ({ name: [child, ...], '@_attr': 'value' }), or throws. */
export function parseXml(text, file) {
  const source = String(text).replace(/^\uFEFF/, '');
  const valid = XMLValidator.validate(source);
  if (valid !== true) {
    const { msg, line } = valid.err;
    throw new Error(`${file}: not well-formed XML (line ${line}: ${msg})`);
  }
  return parser.parse(source);
}

/** The child elements of a node (attributes and text left out), as [name, node] pairs. */
export function childElements(node) {
  if (node === null || typeof node !== 'object') return [];
  const out = [];
  for (const [name, value] of Object.entries(node)) {
    if (name.startsWith('@_') || name === '#text' || !Array.isArray(value)) continue;
    for (const child of value) out.push([name, child]);
  }
  return out;
}

/** An attribute's value, or undefined. */
export function attr(node, name) {
  if (node === null || typeof node !== 'object') return undefined;
  return node[`@_${name}`];
}
