import AffinityCLI
import ArgumentParser

AffinityCommand.main()
