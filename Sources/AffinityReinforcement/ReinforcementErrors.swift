public import AffinityCore

/// A call the rating simulator cannot answer as asked: an unknown user or item, a user without
/// enough positive items for a state, an item shown twice in one episode, a step before a reset.
public enum SimulatorError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidConfiguration(ConfigurationError)
  /// Fitting the rating model failed.
  case ratingModel(FitError)
  case unknownUser(index: Int, userCount: Int)
  case unknownItem(index: Int, itemCount: Int)
  case tooFewPositives(user: UserID, positives: Int, needed: Int)
  case repeatedItem(item: ItemID)
  case noEpisode
  case emptySlate
  /// The rating model was not fitted on the simulator's training data.
  case modelMismatch(what: String, model: Int, training: Int)

  public var description: String {
    switch self {
    case .invalidConfiguration(let error): error.description
    case .ratingModel(let error): error.description
    case .unknownUser(let index, let userCount):
      "user index \(index) does not exist; users are 0..<\(userCount)"
    case .unknownItem(let index, let itemCount):
      "item index \(index) does not exist; items are 0..<\(itemCount)"
    case .tooFewPositives(let user, let positives, let needed):
      "user '\(user)' has \(positives) positive training items, an episode's state needs \(needed); "
        + "start episodes from eligibleUsers"
    case .repeatedItem(let item):
      "item '\(item)' was already recommended in this episode; mask recommended items before choosing"
    case .noEpisode:
      "step(items:) was called before reset(user:); start an episode first"
    case .emptySlate:
      "step(items:) needs at least one item"
    case .modelMismatch(let what, let model, let training):
      "the rating model has \(model) \(what) but the training data has \(training); "
        + "fit the model on the same training data"
    }
  }
}

/// A misuse of ``PrioritizedReplay``: a transition of the wrong width, an empty buffer, a bad
/// priority or index.
public enum ReplayBufferError: Error, Equatable, Sendable, CustomStringConvertible {
  case width(what: String, expected: Int, received: Int)
  case empty
  case invalidBatchSize(Int)
  case unknownIndex(index: Int, count: Int)
  case invalidPriority(index: Int, value: Float)
  case countMismatch(priorities: Int, indices: Int)

  public var description: String {
    switch self {
    case .width(let what, let expected, let received):
      "PrioritizedReplay: \(what) has \(received) values but the buffer stores \(expected)"
    case .empty:
      "PrioritizedReplay: the buffer is empty; append transitions before sampling"
    case .invalidBatchSize(let size):
      "PrioritizedReplay: batch size must be ≥ 1; got \(size)"
    case .unknownIndex(let index, let count):
      "PrioritizedReplay: index \(index) holds no transition; the buffer holds 0..<\(count)"
    case .invalidPriority(let index, let value):
      "PrioritizedReplay: the priority for index \(index) must be finite and ≥ 0; got \(value)"
    case .countMismatch(let priorities, let indices):
      "PrioritizedReplay: \(priorities) priorities for \(indices) indices; pass one priority per index"
    }
  }
}

/// Why an offline ranking protocol could not run: a scorer that returned the wrong number of
/// scores, or a split with no user to evaluate.
public enum RankingProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
  case scoreCount(scorer: String, user: UserID, expected: Int, received: Int)
  case nonFiniteScore(scorer: String, user: UserID)

  public var description: String {
    switch self {
    case .scoreCount(let scorer, let user, let expected, let received):
      "\(scorer): returned \(received) scores for user '\(user)' but there are \(expected) candidates; "
        + "return one score per candidate, in candidate order"
    case .nonFiniteScore(let scorer, let user):
      "\(scorer): returned a NaN score for user '\(user)'; scores must be numbers (−∞ is allowed)"
    }
  }
}
